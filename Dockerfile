# The product image: the same binary runs every role (ROLE=all|bots|worker).
# Needs BuildKit (the default since Docker 23; `DOCKER_BUILDKIT=1` before, and `COMPOSE_DOCKER_CLI_BUILD=1`
# for docker-compose 1.x). scripts/docker-check.sh builds and runs it; CI checks what it names
# (tests/unit/docker.test.ts).
FROM node:20-bookworm-slim AS build
WORKDIR /app
# A registry mirror, when the build machine must use one.
ARG NPM_REGISTRY=https://registry.npmjs.org/
COPY package.json package-lock.json ./
# Behind a TLS-inspecting proxy, its CA bundle comes in as a build secret (docker build --secret
# id=ca,src=/etc/ssl/certs/ca-certificates.crt): mounted for this step only, never written to a layer.
RUN --mount=type=secret,id=ca \
    if [ -s /run/secrets/ca ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/ca; fi; \
    npm ci --no-audit --no-fund --registry "$NPM_REGISTRY"
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
WORKDIR /app
# sharp's worker threads each get a malloc arena; two keep the worker's resident size down (see README benchmarks).
# 0.0.0.0: a published port must reach the HTTP server; the product's own default is loopback.
ENV NODE_ENV=production MALLOC_ARENA_MAX=2 HTTP_HOST=0.0.0.0 HTTP_PORT=8080
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
# The console chat and the generate command write here; the app itself stays read-only to its user.
RUN mkdir outputs && chown node:node outputs
USER node
EXPOSE 8080
CMD ["node", "dist/main.js"]
