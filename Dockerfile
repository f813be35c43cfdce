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
# A young generation of 2 × 4 MB (V8 grows it to 2 × 64 MB by default), and a collection once the old generation
# has grown 30 % past what the last one kept (V8 let it grow up to 4 times on a large host): peak RSS under load
# 274-286 → 232-240 MB for ROLE=all at the same throughput (README, Operations, "Roles"). A 1 GB heap limit,
# about 20 times what the service keeps live, instead of one taken from a large host's memory (4 GB on 24 GB).
CMD ["node", "--max-semi-space-size=4", "--max-old-space-size=1024", "--heap-growing-percent=30", "dist/src/main.js"]
