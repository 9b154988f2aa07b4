/**
 * DataPlatform on kubernetes: TLS between the pieces through cert-manager. Installs cert-manager
 * (unless the cluster has it), then makes a CA for this install, or takes the user's issuer, and
 * returns what the pieces are given: the issuer of their certificates and the CA Secret clients trust.
 */
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import type { Validator } from "../errors";
import { installCa, type CertificateTlsArgs } from "../tls";
import type { DataPlatformTlsArgs } from "./args";

export const CERT_MANAGER_CHART_VERSION = "v1.21.2";

/** The platform's TLS settings; undefined when TLS is off. Throws a FloeArgError on incoherent args. */
export function platformTls(
  name: string,
  ns: string,
  a: DataPlatformTlsArgs | undefined,
  v: Validator,
  opts: pulumi.CustomResourceOptions,
): (CertificateTlsArgs & { dependsOn: pulumi.Resource[] }) | undefined {
  const t = a ?? {};
  if (t.enabled === false) {
    const set = (["issuerName", "caSecretName", "installCertManager"] as const).find((k) => t[k] !== undefined);
    if (set) v.fail(`tls.${set}`, t[set], "is set, and tls.enabled is false", `remove it, or turn TLS on`);
    return undefined;
  }
  v.oneOf("tls.issuerKind", t.issuerKind, "Issuer", ["Issuer", "ClusterIssuer"]);
  if ((t.issuerName === undefined) !== (t.caSecretName === undefined))
    v.fail(
      "tls.caSecretName",
      t.caSecretName,
      t.issuerName === undefined ? "is set without tls.issuerName" : "is required with tls.issuerName",
      "give both: your issuer, and the Secret whose ca.crt is the CA its certificates chain to (what the clients trust)",
    );
  if (t.issuerKind !== undefined && t.issuerName === undefined)
    v.fail("tls.issuerKind", t.issuerKind, "is set without tls.issuerName", "name your issuer, or remove it");
  if (t.issuerName !== undefined) v.dnsLabel("tls.issuerName", t.issuerName);
  const certManager =
    (t.installCertManager ?? true)
      ? new k8s.helm.v3.Release(
          `${name}-cert-manager`,
          {
            name: "cert-manager",
            chart: "cert-manager",
            repositoryOpts: { repo: "https://charts.jetstack.io" },
            version: t.certManagerChartVersion ?? CERT_MANAGER_CHART_VERSION,
            namespace: "cert-manager",
            createNamespace: true,
            values: { crds: { enabled: true } },
          },
          opts,
        )
      : undefined;
  const crOpts = { ...opts, dependsOn: [...(certManager ? [certManager] : []), ...((opts.dependsOn as pulumi.Resource[] | undefined) ?? [])] };
  if (t.issuerName !== undefined)
    return { issuerName: t.issuerName, issuerKind: t.issuerKind ?? "Issuer", caSecretName: t.caSecretName!, dependsOn: certManager ? [certManager] : [] };
  const ca = installCa(name, ns, crOpts);
  return { issuerName: ca.issuerName, issuerKind: ca.issuerKind, caSecretName: ca.caSecretName, dependsOn: ca.resources };
}
