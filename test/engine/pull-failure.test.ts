import { describe, expect, it } from "vitest";
import { classifyPodEvent, registriesForImage } from "../../src/engine/pull-failure.ts";

// Messages as kubelet 1.35 with containerd 1.6 writes them (TESTING.md, "What kubelet reports").
const H = "123456789012.dkr.ecr.us-east-1.amazonaws.com";
const basic401 = `Failed to pull image "${H}/team/app:v2": failed to pull and unpack image "${H}/team/app:v2": failed to resolve reference "${H}/team/app:v2": pulling from host ${H} failed with status code [manifests v2]: 401 Unauthorized`;
const token401 = `Failed to pull image "ghcr.io/org/app:v1": failed to pull and unpack image "ghcr.io/org/app:v1": failed to resolve reference "ghcr.io/org/app:v1": failed to authorize: failed to fetch oauth token: unexpected status: 401 Unauthorized`;
const denied = `Failed to pull image "ghcr.io/org/app:v1": failed to resolve reference "ghcr.io/org/app:v1": pull access denied, repository does not exist or may require authorization: server message: insufficient_scope: authorization failed`;
const notFound = `Failed to pull image "ghcr.io/org/app:v9": rpc error: code = NotFound desc = failed to pull and unpack image "ghcr.io/org/app:v9": failed to resolve reference "ghcr.io/org/app:v9": ghcr.io/org/app:v9: not found`;
const unreachable = `Failed to pull image "ghcr.io/org/app:v1": failed to do request: Head "https://ghcr.io/v2/org/app/manifests/v1": dial tcp 127.0.0.9:443: connect: connection refused`;

describe("classifyPodEvent", () => {
  it("reads a registry's and a token realm's 401 as an auth failure with the image", () => {
    expect(classifyPodEvent({ type: "Warning", reason: "Failed", message: basic401 })).toEqual({
      kind: "auth",
      image: `${H}/team/app:v2`,
      status: 401,
    });
    expect(classifyPodEvent({ type: "Warning", reason: "Failed", message: token401 })).toEqual({
      kind: "auth",
      image: "ghcr.io/org/app:v1",
      status: 401,
    });
    expect(classifyPodEvent({ type: "Warning", reason: "Failed", message: denied })).toMatchObject({
      kind: "auth",
      status: 403,
    });
  });

  it("ignores failures a fresh credential would not fix, and events that are not pull failures", () => {
    expect(classifyPodEvent({ type: "Warning", reason: "Failed", message: notFound })).toBeNull();
    expect(classifyPodEvent({ type: "Warning", reason: "Failed", message: unreachable })).toBeNull();
    expect(
      classifyPodEvent({ type: "Warning", reason: "Failed", message: "Error: ErrImagePull" }),
    ).toBeNull();
    expect(classifyPodEvent({ type: "Normal", reason: "Failed", message: basic401 })).toBeNull();
    expect(classifyPodEvent({ type: "Warning", reason: "BackOff", message: basic401 })).toBeNull();
  });

  it("names the pull secrets kubelet could not find", () => {
    expect(
      classifyPodEvent({
        type: "Warning",
        reason: "FailedToRetrieveImagePullSecret",
        message:
          "Unable to retrieve some image pull secrets (regcred, other); attempting to pull the image may not succeed.",
      }),
    ).toEqual({ kind: "missing-secrets", secrets: ["regcred", "other"] });
  });
});

describe("registriesForImage", () => {
  const keys = new Map<string, string[]>([
    ["prod-ecr", [H]],
    // Listed least specific first: the order must come from kubelet's rule, not from here.
    ["ghcr-all", ["ghcr.io"]],
    ["ghcr-org", ["ghcr.io/org"]],
    ["hub", ["https://index.docker.io/v1/"]],
    ["acr", ["*.azurecr.io"]],
  ]);

  it("maps an image to the registries whose keys kubelet tries, most specific first", () => {
    expect(registriesForImage(keys, `${H}/team/app:v2`)).toEqual(["prod-ecr"]);
    expect(registriesForImage(keys, "ghcr.io/org/app:v1")).toEqual(["ghcr-org", "ghcr-all"]);
    expect(registriesForImage(keys, "ghcr.io/someone/app")).toEqual(["ghcr-all"]);
    expect(registriesForImage(keys, "myreg.azurecr.io/app")).toEqual(["acr"]);
  });

  it("maps a Docker Hub short name to the legacy key, and an unmanaged registry to nothing", () => {
    expect(registriesForImage(keys, "nginx")).toEqual(["hub"]);
    expect(registriesForImage(keys, "team/app:v1")).toEqual(["hub"]);
    // kubelet's fallback quirk: a first path part without a dot or port is Docker Hub's.
    expect(registriesForImage(keys, "localhost/x")).toEqual(["hub"]);
    expect(registriesForImage(keys, "quay.io/x/y")).toEqual([]);
    expect(registriesForImage(keys, "a.b.azurecr.io/app")).toEqual([]);
  });
});
