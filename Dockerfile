# syntax=docker/dockerfile:1
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: the package's `prepare` builds, and the sources are not here yet (the next RUN builds).
RUN npm install --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY prisma ./prisma
COPY scripts ./scripts
COPY src ./src
COPY workers ./workers
COPY test ./test
RUN npm run build

# Runtime: production dependencies and the compiled service only. test/image.test.ts installs this stage's
# dependencies with this RUN line and starts the service from the result.
FROM node:24-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
# --omit=optional as well as dev: npm marks the Prisma CLI (with its studio) and TypeScript `devOptional`,
# being dev dependencies here and optional peers of @prisma/client, so --omit=dev alone still installs them
# (391 MB instead of 143 MB). Nothing the service runs is optional.
RUN npm install --omit=dev --omit=optional --ignore-scripts --no-audit --no-fund && npm cache clean --force
# dist/src holds the generated Prisma client too; dist/scripts the CLI (`node dist/scripts/relay.js`) and
# the migrate job (`node dist/scripts/migrate.js`); prisma/ the migrations it applies.
COPY --from=build /app/dist/src ./dist/src
COPY --from=build /app/dist/workers ./dist/workers
COPY --from=build /app/dist/scripts ./dist/scripts
COPY prisma ./prisma
USER node
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=3s --retries=3 CMD node -e "const e=process.env,p=e.METRICS_PORT||(e.ROLE==='worker'?9464:e.PORT||3000);fetch('http://127.0.0.1:'+p+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
# The process gives itself its role's V8 heap flags as it starts (src/heap-flags.ts; README, Operations, "Roles");
# a flag set in NODE_OPTIONS (say --max-old-space-size in a small container) is kept instead of ours.
CMD ["node", "dist/src/main.js"]
