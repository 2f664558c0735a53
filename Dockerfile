# syntax=docker/dockerfile:1
#
# alias-audit HTTP service, and the audit worker of its distributed mode.
#   CPU image (the default target):  docker build -t alias-audit .
#   GPU image (CUDA 12 provider):    docker build --target cuda -t alias-audit:cuda .
#                                    docker run --gpus all -p 8080:8080 -v aa-data:/data alias-audit:cuda
# The arguments are alias-audit's (ENTRYPOINT node dist/cli/main.js, CMD serve), so one image runs
# both roles of the distributed mode (README, "Running on several machines"; docker-compose.yml):
#   docker run -p 8080:8080 -e ALIAS_AUDIT_API_KEYS=... \
#     -e ALIAS_AUDIT_REDIS_URL=redis://HOST:6379 -e ALIAS_AUDIT_DATABASE_URL=postgres://USER:PASS@HOST/DB alias-audit
#   docker run -e ALIAS_AUDIT_REDIS_URL=... -e ALIAS_AUDIT_DATABASE_URL=... alias-audit worker --concurrency 2
# (or --redis URL --database URL after serve/worker; the variables keep the password out of the
# process list). The worker publishes no port and needs no API keys. Without the URLs, serve is
# the embedded service (SQLite in /data, in-process queue).
# HEALTHCHECK: GET /healthz when the container runs serve; any other command (worker, a one-off
# audit) has no HTTP server and counts as healthy while it runs (tini exits when it does).
# The CIFAR-10 test set is baked in (downloaded once at build time, ~139 MB);
# --build-arg FETCH_DATA=0 leaves it out (the service then fetches it on first start, or set
# CIFAR10_DIR to a mounted copy of the official binary batches).
# Embedded, jobs, reports and queued models live in the /data volume; mount it to keep them
# across container restarts. Distributed, they live in PostgreSQL, and /data holds only a
# worker's copies of the models it is auditing (no volume needed).
#
# API keys: the image listens on 0.0.0.0 inside the container, so it needs keys and refuses to
# start without them. Give them as ALIAS_AUDIT_API_KEYS=tenant:key,... (each key 16+ characters)
# or, better, mount a file of hashed keys and point ALIAS_AUDIT_API_KEYS_FILE at it; a line is
# "tenant sha256:<hex>" (add " admin" for a key that sees every tenant), the hex from
#   printf %s "$KEY" | sha256sum
#   docker run -p 8080:8080 -v aa-data:/data -v $PWD/keys.txt:/keys.txt:ro \
#     -e ALIAS_AUDIT_API_KEYS_FILE=/keys.txt alias-audit
# ALIAS_AUDIT_ALLOW_UNAUTHENTICATED=true serves without keys (only behind something that authenticates).

ARG NODE_VERSION=20.20.2
ARG CUDA_IMAGE=nvidia/cuda:12.6.3-cudnn-runtime-ubuntu22.04

# ---------------------------------------------------------------- build
FROM node:${NODE_VERSION}-bookworm-slim AS build
# Compilers only for a source build of better-sqlite3 when no prebuilt binary matches.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json .npmrc ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json openapi.yaml ./
COPY src ./src
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

# ---------------------------------------------------------------- data
FROM build AS data
ARG FETCH_DATA=1
ENV ALIAS_AUDIT_CACHE=/opt/alias-audit/cache
RUN mkdir -p "$ALIAS_AUDIT_CACHE" \
 && if [ "$FETCH_DATA" = "1" ]; then node dist/cli/main.js data && rm -f "$ALIAS_AUDIT_CACHE"/*.tgz; fi

# ---------------------------------------------------------------- CUDA execution provider libraries
FROM build AS build-cuda
# .npmrc skips onnxruntime-node's download of its CUDA provider; fetch it here (CUDA 12).
RUN ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install.js

# ---------------------------------------------------------------- GPU image (--target cuda)
FROM ${CUDA_IMAGE} AS cuda
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --create-home --home-dir /home/alias alias
COPY --from=build /usr/local/bin/node /usr/local/bin/node
ENV NODE_ENV=production \
    PORT=8080 \
    ALIAS_AUDIT_HOST=0.0.0.0 \
    ALIAS_AUDIT_DATA_DIR=/data \
    ALIAS_AUDIT_CACHE=/opt/alias-audit/cache
WORKDIR /app
COPY --from=build-cuda /src/package.json /src/openapi.yaml ./
COPY --from=build-cuda /src/node_modules ./node_modules
COPY --from=build-cuda /src/dist ./dist
COPY --from=data --chown=alias:alias /opt/alias-audit/cache /opt/alias-audit/cache
RUN mkdir -p /data && chown alias:alias /data
USER alias
VOLUME ["/data"]
EXPOSE 8080
# The role is the argument after dist/cli/main.js in PID 1's command line (tini's).
HEALTHCHECK --interval=30s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "const a=require('fs').readFileSync('/proc/1/cmdline','utf8').split('\\0');if(a[a.indexOf('dist/cli/main.js')+1]!=='serve')process.exit(0);fetch('http://127.0.0.1:'+(process.env.ALIAS_AUDIT_PORT||process.env.PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["/usr/bin/tini", "--", "node", "dist/cli/main.js"]
CMD ["serve"]

# ---------------------------------------------------------------- CPU image (default: last stage)
FROM node:${NODE_VERSION}-bookworm-slim AS cpu
# tini: PID 1 that forwards SIGTERM (graceful shutdown) and reaps any orphaned worker.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production \
    PORT=8080 \
    ALIAS_AUDIT_HOST=0.0.0.0 \
    ALIAS_AUDIT_DATA_DIR=/data \
    ALIAS_AUDIT_CACHE=/opt/alias-audit/cache
WORKDIR /app
COPY --from=build /src/package.json /src/openapi.yaml ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY --from=data --chown=node:node /opt/alias-audit/cache /opt/alias-audit/cache
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 8080
# The role is the argument after dist/cli/main.js in PID 1's command line (tini's).
HEALTHCHECK --interval=30s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "const a=require('fs').readFileSync('/proc/1/cmdline','utf8').split('\\0');if(a[a.indexOf('dist/cli/main.js')+1]!=='serve')process.exit(0);fetch('http://127.0.0.1:'+(process.env.ALIAS_AUDIT_PORT||process.env.PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["/usr/bin/tini", "--", "node", "dist/cli/main.js"]
CMD ["serve"]
