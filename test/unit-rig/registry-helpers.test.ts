// Pure helpers of the test rig (no binaries needed): error-status parsing and dockerconfigjson.
import { describe, expect, it } from "vitest";
import { dockerConfigJson, statusOf } from "../rig/registry.ts";

describe("rig registry helpers", () => {
  it("maps crane's registry errors to HTTP statuses", () => {
    // Messages as crane prints them against distribution 2.8 and the rig's token server.
    expect(
      statusOf(
        "Error: GET http://127.0.0.1:33065/v2/rig/hello/manifests/v1: UNAUTHORIZED: authentication required; [map[Action:pull]]",
      ),
    ).toBe(401);
    expect(
      statusOf("Error: GET http://localhost:39431/token?scope=x: UNAUTHORIZED: invalid username or password"),
    ).toBe(401);
    expect(
      statusOf("Error: GET http://127.0.0.1:1/v2/nope/manifests/v1: MANIFEST_UNKNOWN: manifest unknown"),
    ).toBe(404);
    expect(statusOf("Error: GET http://h/v2/: unexpected status code 503 Service Unavailable")).toBe(503);
    expect(statusOf("Error: dial tcp 127.0.0.1:1: connect: connection refused")).toBeUndefined();
  });

  it("renders a dockerconfigjson with username, password and auth", () => {
    const cfg = JSON.parse(dockerConfigJson({ "127.0.0.1:5000": { username: "AWS", password: "p:w" } })) as {
      auths: Record<string, { username: string; password: string; auth: string }>;
    };
    expect(cfg.auths["127.0.0.1:5000"]).toEqual({
      username: "AWS",
      password: "p:w",
      auth: Buffer.from("AWS:p:w").toString("base64"),
    });
  });
});
