// Real X.509 material made with openssl: a throwaway CA, serving certificates signed by it,
// and RSA key pairs (the API server's service-account signing key).
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { requireCommand, runOk } from "./util.ts";

const OPENSSL_HINT = "Install openssl (Debian: apt-get install openssl).";

export interface CA {
  certFile: string;
  keyFile: string;
}

export async function makeCA(dir: string, cn = "regcred-rig-ca"): Promise<CA> {
  requireCommand("openssl", OPENSSL_HINT);
  const certFile = join(dir, "ca.crt");
  const keyFile = join(dir, "ca.key");
  await runOk("openssl", [
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    keyFile,
    "-out",
    certFile,
    "-days",
    "30",
    "-subj",
    `/CN=${cn}`,
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
  ]);
  return { certFile, keyFile };
}

export interface LeafCert {
  certFile: string;
  keyFile: string;
}

/**
 * A certificate signed by ca for 127.0.0.1/localhost (plus extra SANs), serverAuth+clientAuth.
 * `o` sets the subject's organization: Kubernetes reads it as the client's group (a kubelet is
 * `O=system:nodes, CN=system:node:NAME`).
 */
export async function makeServingCert(
  dir: string,
  name: string,
  ca: CA,
  opts: { cn?: string; o?: string; sans?: string[] } = {},
): Promise<LeafCert> {
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const ext = join(dir, `${name}.ext`);
  const sans = ["IP:127.0.0.1", "DNS:localhost", ...(opts.sans ?? [])];
  writeFileSync(
    ext,
    [
      "basicConstraints=critical,CA:FALSE",
      "keyUsage=critical,digitalSignature,keyEncipherment",
      "extendedKeyUsage=serverAuth,clientAuth",
      `subjectAltName=${sans.join(",")}`,
      "",
    ].join("\n"),
  );
  await runOk("openssl", [
    "req",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    keyFile,
    "-out",
    csr,
    "-subj",
    `${opts.o ? `/O=${opts.o}` : ""}/CN=${opts.cn ?? name}`,
  ]);
  await runOk("openssl", [
    "x509",
    "-req",
    "-in",
    csr,
    "-CA",
    ca.certFile,
    "-CAkey",
    ca.keyFile,
    "-CAcreateserial",
    "-out",
    certFile,
    "-days",
    "30",
    "-sha256",
    "-extfile",
    ext,
  ]);
  return { certFile, keyFile };
}

/** An RSA key pair as PEM files (private PKCS#8, public SPKI). */
export async function makeKeyPair(dir: string, name: string): Promise<{ keyFile: string; pubFile: string }> {
  requireCommand("openssl", OPENSSL_HINT);
  const keyFile = join(dir, `${name}.key`);
  const pubFile = join(dir, `${name}.pub`);
  await runOk("openssl", [
    "genpkey",
    "-algorithm",
    "RSA",
    "-pkeyopt",
    "rsa_keygen_bits:2048",
    "-out",
    keyFile,
  ]);
  await runOk("openssl", ["pkey", "-in", keyFile, "-pubout", "-out", pubFile]);
  return { keyFile, pubFile };
}
