/**
 * The names regcred writes onto the Secrets it manages. A leaf: the plan stamps them, the
 * writers select by them, the config reserves them and the mirror provider refuses to copy a
 * Secret that carries them.
 */
export const SECRET_TYPE = "kubernetes.io/dockerconfigjson";
export const LABEL_MANAGED_BY = "app.kubernetes.io/managed-by";
export const LABEL_TARGET = "regcred.io/secret";
/** Which regcred installation owns it: two installations never collect each other's Secrets. */
export const LABEL_INSTANCE = "regcred.io/instance";
export const DEFAULT_INSTANCE = "regcred";
export const ANNOTATION_EXPIRES = "regcred.io/expires-at";
export const ANNOTATION_HASH = "regcred.io/content-hash";
export const ANNOTATION_REGISTRIES = "regcred.io/registries";
/**
 * Per registry: the auth keys it supplied and when its credential expires (JSON
 * {"name": {"keys": [...], "expiresAt": ISO | null}}). What a restarted regcred reads back to
 * keep a still-valid credential while its provider fails.
 */
export const ANNOTATION_CREDENTIALS = "regcred.io/credentials";
