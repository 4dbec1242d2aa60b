# Sinew engine image: one image, every role (`sinew start --roles …` chooses). See docs/deployment.md.

# ---- build: compile better-sqlite3 from source, bundle the `sinew` command, drop dev dependencies
FROM node:20-bookworm-slim AS build

RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 make g++ \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
# node-gyp compiles against the headers of the image's own Node (no download).
ENV npm_config_nodedir=/usr/local

# Dependencies first, so this layer is reused until package.json or the lock file changes.
# Scripts are skipped here because the project's own `prepare` (the build) needs the sources;
# the packages with install steps are then rebuilt, better-sqlite3 from source (.prebuild-installrc).
COPY package.json package-lock.json .prebuild-installrc ./
RUN npm ci --no-audit --no-fund --ignore-scripts \
    && npm rebuild better-sqlite3 msgpackr-extract esbuild

COPY . .
RUN npm run build \
    && npm prune --omit=dev --no-audit --no-fund \
    && node -e "new (require('better-sqlite3'))(':memory:').prepare('select 1').get()"

# ---- runtime: the bundle, production dependencies, built-in transformers, default channels
FROM node:20-bookworm-slim

ENV NODE_ENV=production \
    SINEW_DATA_DIR=/var/lib/sinew \
    SINEW_CHANNELS_DIR=/app/channels \
    SINEW_HTTP_HOST=0.0.0.0 \
    SINEW_HTTP_PORT=8080

RUN groupadd --system --gid 10001 sinew \
    && useradd --system --uid 10001 --gid sinew --home-dir /var/lib/sinew --shell /usr/sbin/nologin sinew \
    && mkdir -p /var/lib/sinew \
    && chown sinew:sinew /var/lib/sinew \
    && chmod 0700 /var/lib/sinew

WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/bin ./bin
COPY --from=build /app/transformers ./transformers
COPY --from=build /app/channels ./channels

USER sinew
VOLUME ["/var/lib/sinew"]
# 2575: MLLP (the port comes from the channel files). The operations port (8080: /health,
# /ready, /metrics) has no authentication yet: it is not exposed, so `docker run -P` does not
# publish it; the health check below runs inside the container.
EXPOSE 2575

HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.SINEW_HTTP_PORT || 8080) + '/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]

CMD ["node", "bin/sinew.js", "start", "--channels", "/app/channels"]
