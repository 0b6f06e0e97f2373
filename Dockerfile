# One image for both Cloud Run services; each service picks its entry point:
#   subscriber: node dist/src/subscriber/main.js (the default below)
#   SSE:        node dist/src/sse/main.js
# Built by Cloud Build from scripts/deploy.sh; `docker build .` works the same locally.
# `npm run check:image` (run by .ci/run) runs this file's build stage under the same Node major
# without Docker and boots both services from the runtime stage it assembles.

# Node 24: an LTS line since October 2025, supported to April 2028. Node 26 became the active LTS
# in October 2026, but 24 has a year of production use behind it with the libraries this image runs
# (the Google Cloud clients, ws, express), all of which need only Node >= 20. The one native module,
# @duckdb/node-api, uses N-API, whose ABI is stable across Node majors, so the move to 26 is this one
# line (or --build-arg NODE_VERSION=26) once it has had the same soak.
ARG NODE_VERSION=24

FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /app
# Dependencies first: this layer is reused until the lockfile changes. The test tools come too
# (the compiler is one of them); the infrastructure tools (CDKTF) have their own package in infra/
# and are not in the build context at all.
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY sql ./sql
RUN npx tsc -p tsconfig.build.json \
  && cp -r src/sse/public dist/src/sse/public \
  && cp -r sql dist/sql \
  && npm prune --omit=dev --omit=optional --no-audit --no-fund
# The optional dependencies are what only a local run needs: tsx (runs the TypeScript sources) and
# DuckDB (HISTORY=duckdb, loaded on demand). The image runs compiled code against BigQuery.

FROM node:${NODE_VERSION}-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# The image's own unprivileged user; nothing in /app is writable by it.
USER node
EXPOSE 8080
# node itself is PID 1 (no npm, no shell), so Cloud Run's SIGTERM reaches the shutdown handlers.
CMD ["node", "dist/src/subscriber/main.js"]
