# The product image: the same binary runs every role (ROLE=all|bots|worker).
# Built and checked by hand only where a Docker engine exists; CI checks what it names (tests/unit/docker.test.ts).
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
WORKDIR /app
# sharp's worker threads each get a malloc arena; two keep the worker's resident size down (see README benchmarks).
ENV NODE_ENV=production MALLOC_ARENA_MAX=2 HTTP_HOST=0.0.0.0 HTTP_PORT=8080
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
USER node
EXPOSE 8080
CMD ["node", "dist/main.js"]
