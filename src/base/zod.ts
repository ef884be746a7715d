/**
 * regcred's zod: the tree-shakable `zod/mini` API, with the English messages the config errors
 * quote (zod/mini loads none of its own). Import schemas from here (providers: from kit.ts),
 * never from "zod": the classic API puts some forty methods on every schema it builds, and it
 * and its module were about 10 MB of the daemon's resident memory (npm run bench:fanout).
 */
import { config } from "zod/mini";
import en from "zod/v4/locales/en.js";

config(en());

export * from "zod/mini";
