/** Test certificates made with openssl: a CA, a server certificate it signs for 127.0.0.1 / localhost, and a second, unrelated CA. */
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";

export interface TestCertificates {
  ca: string;
  otherCa: string;
  cert: string;
  key: string;
}

/** Writes ca.crt, other-ca.crt, server.crt and server.key into `dir` (valid for 2 days) and returns their paths. */
export function makeCertificates(dir: string): TestCertificates {
  const run = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
  const ecKey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  const caExt = ["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"];
  run("req", "-x509", ...ecKey, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=floe test CA", ...caExt);
  run("req", "-x509", ...ecKey, "-keyout", "other-ca.key", "-out", "other-ca.crt", "-days", "2", "-subj", "/CN=floe other CA", ...caExt);
  run("req", ...ecKey, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1");
  writeFileSync(
    join(dir, "server.ext"),
    "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
  );
  run(
    "x509",
    "-req",
    "-in",
    "server.csr",
    "-CA",
    "ca.crt",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-out",
    "server.crt",
    "-days",
    "2",
    "-extfile",
    "server.ext",
  );
  return { ca: join(dir, "ca.crt"), otherCa: join(dir, "other-ca.crt"), cert: join(dir, "server.crt"), key: join(dir, "server.key") };
}
