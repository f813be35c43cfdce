#!/bin/sh
# `prisma generate` only needs the Wasm schema tools, but the CLI insists on a schema-engine binary first;
# where none can be downloaded, any existing file satisfies the check.
set -e
if [ -z "${PRISMA_SCHEMA_ENGINE_BINARY:-}" ]; then export PRISMA_SCHEMA_ENGINE_BINARY="$(command -v sh)"; fi
exec prisma generate --schema prisma/schema.prisma
