// End to end: regcred (the real daemon, real provider) writes its Secret into namespaces of the
// rig's real API server; the Secret is read back from the API server and a real client pulls
// an image with it from the rig's real registry.
import { pullWithDockerConfig, type PullResult } from "../../rig/registry.ts";
import { runDaemonAndReadBack } from "./read-back.ts";

export interface E2EResult {
  /** The .dockerconfigjson as read back from each namespace. */
  dockerconfigjson: string[];
  pulls: PullResult[];
  logs: string;
}

/**
 * registriesYaml: the `registries:` list items (YAML, indented by two spaces) for one registry
 * named `under-test`. The target, namespaces and instance are added by runDaemonAndReadBack.
 */
export async function fanOutAndPull(
  registriesYaml: string,
  image: string,
  namespaces = 2,
): Promise<E2EResult> {
  const result = await runDaemonAndReadBack(registriesYaml, { namespaces });
  const dockerconfigjson = result.secrets.map((s) => s.dockerconfigjson);
  const pulls: PullResult[] = [];
  for (const json of dockerconfigjson) pulls.push(await pullWithDockerConfig(json, image));
  return { dockerconfigjson, pulls, logs: result.logs() };
}
