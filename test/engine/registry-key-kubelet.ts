// How kubelet reads the auths of a pull Secret and matches them against an image: the port of
// kubelet's keyring in src/engine/keyring.ts, which test/integration/engine/keyring-oracle.test.ts
// checks against kubelet's own Go code. An oracle for the keys regcred renders.
import { keyringKey, lookup } from "../../src/engine/keyring.ts";

/** The keyring index key kubelet derives from one auths key (BasicDockerKeyring.Add). */
export const kubeletKey = keyringKey;

/** The auths keys of a .dockerconfigjson that kubelet would use for an image, in its order. */
export function kubeletLookup(dockerconfigjson: string, image: string): string[] {
  const r = lookup(
    [{ name: "s", type: "kubernetes.io/dockerconfigjson", data: { ".dockerconfigjson": dockerconfigjson } }],
    image,
  );
  return r.ok ? r.hits.map((h) => h.entry) : [];
}
