/**
 * regcred's zod: the tree-shakable `zod/mini` API, with the English messages the config errors
 * quote (zod/mini loads none of its own). src/ imports schemas from here; providers import
 * "zod/mini" themselves (see providers/kit.ts). Never "zod": the classic API puts some forty
 * methods on every schema it builds, and it and its module were about 5 MB of the bundle's
 * resident memory (at `--version`: 69 MB before, 64 MB after).
 */
import { config } from "zod/mini";
import en from "zod/v4/locales/en.js";

config(en());

export * from "zod/mini";
