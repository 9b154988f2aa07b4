/**
 * TLS between the pieces on kubernetes, through cert-manager: the certificate a server piece
 * (MinIO, Lakekeeper) serves, issued by an Issuer or ClusterIssuer, and the CA Secret its clients
 * trust. DataPlatform makes a CA per install (a self-signed root, then a CA Issuer from it) unless
 * the user names an issuer of theirs; the pieces take the issuer and the CA Secret as args.
 */
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import type { Validator } from "./errors";
import { labels } from "./util";

/** A cert-manager issuer and the CA its certificates chain to. */
export interface CertificateTlsArgs {
  /** Name of the cert-manager Issuer (in the piece's namespace) or ClusterIssuer that signs the piece's certificate. Required. */
  issuerName: pulumi.Input<string>;
  /** "Issuer" or "ClusterIssuer". Defaults to "Issuer". */
  issuerKind?: string;
  /** A Secret in the piece's namespace whose `ca.crt` is the CA the certificate chains to: what clients are given to trust. Required. */
  caSecretName: pulumi.Input<string>;
}

/** The key of a CA Secret that clients mount (never the CA's private key). */
export const CA_KEY = "ca.crt";

/** Checks a piece's `tls` args. Throws a FloeArgError. */
export function checkTlsArgs(v: Validator, at: string, tls: CertificateTlsArgs | undefined): void {
  if (!tls) return;
  v.oneOf(`${at}.issuerKind`, tls.issuerKind, "Issuer", ["Issuer", "ClusterIssuer"]);
  if (tls.issuerName === undefined)
    v.fail(`${at}.issuerName`, undefined, "is required", "name the cert-manager Issuer or ClusterIssuer that signs the certificate");
  if (tls.caSecretName === undefined)
    v.fail(`${at}.caSecretName`, undefined, "is required", "name the Secret (key ca.crt) holding the CA the certificate chains to, for the clients");
}

/** The names a Service answers to inside the cluster. */
export function serviceDnsNames(service: string, ns: string): string[] {
  return [service, `${service}.${ns}`, `${service}.${ns}.svc`, `${service}.${ns}.svc.cluster.local`];
}

/**
 * A cert-manager Certificate for a Service (its in-cluster names), stored in the Secret `secretName`
 * (keys tls.crt, tls.key, ca.crt). ECDSA P-256, a new key at every renewal; cert-manager renews
 * it a third of its 90 days before expiry, and the servers floe configures reload it.
 */
export function serverCertificate(
  resourceName: string,
  ns: string,
  secretName: string,
  service: string,
  tls: CertificateTlsArgs,
  component: string,
  opts: pulumi.CustomResourceOptions,
): k8s.apiextensions.CustomResource {
  return new k8s.apiextensions.CustomResource(
    resourceName,
    {
      apiVersion: "cert-manager.io/v1",
      kind: "Certificate",
      metadata: { name: secretName, namespace: ns, labels: labels(component, resourceName) },
      spec: {
        secretName,
        dnsNames: serviceDnsNames(service, ns),
        issuerRef: { group: "cert-manager.io", kind: tls.issuerKind ?? "Issuer", name: tls.issuerName },
        privateKey: { algorithm: "ECDSA", size: 256, rotationPolicy: "Always" },
        usages: ["server auth", "digital signature"],
      },
    },
    opts,
  );
}

/**
 * A CA per install: a self-signed Issuer, a CA certificate from it (ten years, its key kept across
 * renewals so the certificates it signed stay valid), and the CA Issuer that signs the pieces'
 * certificates. Returns the CA Issuer's name and the CA Secret (`ca.crt` is the CA certificate).
 */
export function installCa(name: string, ns: string, opts: pulumi.CustomResourceOptions): CertificateTlsArgs & { resources: pulumi.Resource[] } {
  const lbl = labels("tls", name);
  const selfSigned = new k8s.apiextensions.CustomResource(
    `${name}-tls-selfsigned`,
    { apiVersion: "cert-manager.io/v1", kind: "Issuer", metadata: { name: `${name}-tls-selfsigned`, namespace: ns, labels: lbl }, spec: { selfSigned: {} } },
    opts,
  );
  const caSecret = `${name}-tls-ca`;
  const ca = new k8s.apiextensions.CustomResource(
    `${name}-tls-ca`,
    {
      apiVersion: "cert-manager.io/v1",
      kind: "Certificate",
      metadata: { name: caSecret, namespace: ns, labels: lbl },
      spec: {
        isCA: true,
        commonName: `${name} floe CA`,
        secretName: caSecret,
        duration: "87600h",
        renewBefore: "720h",
        privateKey: { algorithm: "ECDSA", size: 256, rotationPolicy: "Never" },
        issuerRef: { group: "cert-manager.io", kind: "Issuer", name: `${name}-tls-selfsigned` },
      },
    },
    { ...opts, dependsOn: [selfSigned] },
  );
  const issuer = new k8s.apiextensions.CustomResource(
    `${name}-tls-issuer`,
    { apiVersion: "cert-manager.io/v1", kind: "Issuer", metadata: { name: `${name}-tls`, namespace: ns, labels: lbl }, spec: { ca: { secretName: caSecret } } },
    { ...opts, dependsOn: [ca] },
  );
  return { issuerName: `${name}-tls`, issuerKind: "Issuer", caSecretName: caSecret, resources: [selfSigned, ca, issuer] };
}

/**
 * A projected service-account token for the catalog: issued for `audience` (Lakekeeper accepts no
 * other), bound to the pod, rotated by the kubelet before it expires (clients re-read the file).
 */
export function catalogTokenVolume(name: string, audience: pulumi.Input<string>) {
  return { name, projected: { sources: [{ serviceAccountToken: { audience, expirationSeconds: 3600, path: "token" } }] } };
}
