// For running the Prisma CLI elsewhere, e.g. `npx prisma migrate status --config prisma/prisma.config.ts`.
// This project applies migrations itself (`npm run migrate`); see README.
import { defineConfig } from 'prisma/config';

export default defineConfig({
  schema: 'schema.prisma',
  migrations: { path: 'migrations' },
  datasource: { url: process.env.DATABASE_URL ?? 'postgresql://postgres:postgres@127.0.0.1:5432/auth_relay' },
});
