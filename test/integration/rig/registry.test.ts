// A real registry (distribution 2.8) and a real client (crane) decide whether a
// .dockerconfigjson works: success, or the registry's 401.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pullWithDockerConfig, startRegistry, type Registry } from "../../rig/registry.ts";

const ACR_USER = "00000000-0000-0000-0000-000000000000";

describe("rig: registry with htpasswd (basic) auth", () => {
  let reg: Registry;
  let image = "";
  const users = [
    { username: "AWS", password: "ecr-password-1" },
    { username: "oauth2accesstoken", password: "ya29.gcp-token" },
    { username: ACR_USER, password: "acr-refresh-token" },
    { username: "x-access-token", password: "ghs_app-token" },
  ];

  beforeAll(async () => {
    reg = await startRegistry({ users });
    image = await reg.pushImage("team/app", "v1");
  });
  afterAll(async () => {
    await reg?.stop();
  });

  it("pulls with a correct dockerconfigjson", async () => {
    for (const u of users) {
      expect(await pullWithDockerConfig(reg.dockerConfigJson(u.username, u.password), image)).toEqual({
        ok: true,
      });
    }
  });

  it("fails with 401 on a wrong password", async () => {
    const r = await pullWithDockerConfig(reg.dockerConfigJson("AWS", "wrong"), image);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.status).toBe(401);
    expect(r.error).toMatch(/UNAUTHORIZED|401/);
  });

  it("fails with 401 with no credentials for the registry", async () => {
    const r = await pullWithDockerConfig(JSON.stringify({ auths: {} }), image);
    expect(r).toMatchObject({ ok: false, status: 401 });
  });

  it("uses the auth key that matches host:port, as kubelet does", async () => {
    const cfg = JSON.stringify({
      auths: {
        "127.0.0.1:1": { auth: Buffer.from("AWS:ecr-password-1").toString("base64") },
        [reg.host]: { auth: Buffer.from(`${ACR_USER}:acr-refresh-token`).toString("base64") },
      },
    });
    expect(await pullWithDockerConfig(cfg, image)).toEqual({ ok: true });
  });

  it("setUsers rotates credentials (old password refused, new accepted)", async () => {
    await reg.setUsers([
      ...users.filter((u) => u.username !== "AWS"),
      { username: "AWS", password: "ecr-password-2" },
    ]);
    expect(await pullWithDockerConfig(reg.dockerConfigJson("AWS", "ecr-password-1"), image)).toMatchObject({
      ok: false,
      status: 401,
    });
    expect(await pullWithDockerConfig(reg.dockerConfigJson("AWS", "ecr-password-2"), image)).toEqual({
      ok: true,
    });
    // Storage survives the restart that htpasswd mode needs.
    expect(
      await pullWithDockerConfig(reg.dockerConfigJson("x-access-token", "ghs_app-token"), image),
    ).toEqual({
      ok: true,
    });
  });

  it("bcrypt: a long password is checked on its first 72 bytes only (documented limit)", async () => {
    const long = "A".repeat(72) + "-real-tail";
    await reg.setUsers([{ username: "AWS", password: long }]);
    expect(await pullWithDockerConfig(reg.dockerConfigJson("AWS", long), image)).toEqual({ ok: true });
    expect(
      await pullWithDockerConfig(reg.dockerConfigJson("AWS", "A".repeat(71) + "B-real-tail"), image),
    ).toMatchObject({
      ok: false,
      status: 401,
    });
    // Same first 72 bytes, different tail: htpasswd cannot tell them apart. Use auth "token".
    expect(
      await pullWithDockerConfig(reg.dockerConfigJson("AWS", "A".repeat(72) + "-other-tail"), image),
    ).toEqual({
      ok: true,
    });
  });
});

describe("rig: registry with token (bearer) auth", () => {
  let reg: Registry;
  let image = "";
  const longToken = "eyJ" + "x".repeat(2000);

  beforeAll(async () => {
    reg = await startRegistry({ auth: "token", users: [{ username: ACR_USER, password: longToken }] });
    image = await reg.pushImage("team/app", "v2");
  });
  afterAll(async () => {
    await reg?.stop();
  });

  it("answers /v2/ with a Bearer challenge naming the token server", async () => {
    const r = await fetch(`${reg.url}/v2/`);
    expect(r.status).toBe(401);
    expect(r.headers.get("www-authenticate")).toContain(`Bearer realm="${reg.tokenServer?.realm}"`);
  });

  it("pulls with the exact long password, refuses any other (401)", async () => {
    expect(await pullWithDockerConfig(reg.dockerConfigJson(ACR_USER, longToken), image)).toEqual({
      ok: true,
    });
    const wrong = longToken.slice(0, -1) + "y";
    const r = await pullWithDockerConfig(reg.dockerConfigJson(ACR_USER, wrong), image);
    expect(r).toMatchObject({ ok: false, status: 401 });
    const seen = reg.tokenServer?.requests.filter((q) => q.username === ACR_USER).map((q) => q.ok);
    expect(seen).toContain(true);
    expect(seen).toContain(false);
  });

  it("setUsers takes effect without a restart", async () => {
    await reg.setUsers([{ username: "x-access-token", password: "ghs_new" }]);
    expect(await pullWithDockerConfig(reg.dockerConfigJson("x-access-token", "ghs_new"), image)).toEqual({
      ok: true,
    });
    expect(await pullWithDockerConfig(reg.dockerConfigJson(ACR_USER, longToken), image)).toMatchObject({
      ok: false,
      status: 401,
    });
  });
});
