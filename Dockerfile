# syntax=docker/dockerfile:1
# regcred image: build with dev dependencies, run with production ones only, as non-root.
# The base is a build argument so an offline build can pass a locally built stand-in; the
# default is the real public image.
ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# The npm `node` dev dependency only pins Node for local runs; the base image brings Node here.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY providers ./providers
RUN npm run build && npm prune --omit=dev --ignore-scripts

FROM ${NODE_IMAGE}
ENV NODE_ENV=production
# A small young generation: V8 otherwise keeps tens of MB of it committed (see the chart's
# nodeOptions, which also caps the old space).
ENV NODE_OPTIONS=--max-semi-space-size=2
WORKDIR /app
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
# A numeric non-root user, so Pod Security "restricted" (runAsNonRoot) can verify it.
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["node", "/app/dist/src/main.js"]
CMD ["run", "--config", "/etc/regcred/config.yaml"]
