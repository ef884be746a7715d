# syntax=docker/dockerfile:1
# regcred image: bundle with dev dependencies in a builder stage, ship only the bundle. The
# bundle (scripts/bundle.ts) holds every dependency it uses, so the final stage has no
# node_modules: the base image, a few MB of JavaScript, package.json (for --version).
# The base is a build argument so an offline build can pass a locally built stand-in; the
# default is the real public image.
ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# The npm `node` dev dependency only pins Node for local runs; the base image brings Node here.
# esbuild's binary comes with its platform package; its install script only checks it.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY scripts ./scripts
COPY src ./src
COPY providers ./providers
RUN node scripts/bundle.ts

FROM ${NODE_IMAGE}
ENV NODE_ENV=production
# A small young generation: V8 otherwise keeps tens of MB of it committed (see the chart's
# nodeOptions, which also caps the old space).
ENV NODE_OPTIONS=--max-semi-space-size=2
# At most two malloc arenas: glibc gives each thread that allocates (V8's GC and compiler
# workers, libuv's pool) an arena of its own, and each kept a few MB of freed memory resident
# (at 1,000 namespaces, 3-6 MB of the daemon's; npm run bench:fanout).
ENV MALLOC_ARENA_MAX=2
WORKDIR /app
# Owned by root and read-only to the runtime user; nothing is written at run time, so the
# chart's readOnlyRootFilesystem holds.
COPY --from=build /src/package.json ./
COPY --from=build /src/dist ./dist
# A numeric non-root user, so Pod Security "restricted" (runAsNonRoot) can verify it.
USER 65532:65532
EXPOSE 8080
# V8 flags NODE_OPTIONS does not accept. --optimize-for-size makes V8 grow its heap more slowly
# and collect sooner: at 1,000 namespaces, 10 MB less heap for a few % of CPU. --no-opt leaves
# out TurboFan, V8's top tier (Maglev stays): the daemon waits on the API server, and what it
# runs hot (JSON, TLS, regular expressions) is native code either way. Peak with and without
# it: 91-98 and 98-100 MB at 1,000 namespaces (four runs each), 109-115 and 117-119 MB at
# 10,000; the rollouts' CPU time was within the run-to-run spread. (--no-maglev as well saved
# 8 MB more for 40% more CPU at 10,000.) All measured with npm run bench:fanout.
ENTRYPOINT ["node", "--optimize-for-size", "--no-opt", "/app/dist/src/main.js"]
CMD ["run", "--config", "/etc/regcred/config.yaml"]
