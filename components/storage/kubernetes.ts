import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import * as random from "@pulumi/random";
import type { BuildContext } from "../target";
import type { ObjectStorageArgs, ObjectStorageBuildResult } from "./args";
import { deepMerge, labels, password } from "../util";
import { checkTlsArgs, serverCertificate } from "../tls";

/** Name of the key MinIO's built-in KMS encrypts objects with. */
export const KMS_KEY_NAME = "floe-sse";

export function buildKubernetesObjectStorage(ctx: BuildContext<ObjectStorageArgs>): ObjectStorageBuildResult {
  const { name, args, v, childOpts } = ctx;
  const ka = args.kubernetes ?? {};
  if (args.aws) v.fail("aws", "{…}", 'is set but target is "kubernetes"', 'move these settings under "kubernetes" or set target to "aws"');
  const ns = v.dnsLabel("kubernetes.namespace", ka.namespace ?? "floe");
  const bucket = v.dnsLabel("bucketName", args.bucketName ?? "floe-lake");
  const prefix = args.warehousePrefix ?? "warehouse";
  v.dnsLabel("name", name, 40);
  const byo = ka.existingEndpoint !== undefined;
  checkTlsArgs(v, "kubernetes.tls", ka.tls);
  if (byo && ka.tls)
    v.fail("kubernetes.tls", "{…}", "is set with kubernetes.existingEndpoint", "remove it: TLS of an existing endpoint is its own (give clients its CA)");
  if (byo && (ka.existingAccessKeyId === undefined || ka.existingSecretAccessKey === undefined)) {
    v.fail(
      "kubernetes.existingAccessKeyId",
      ka.existingAccessKeyId === undefined ? undefined : "(set)",
      "and kubernetes.existingSecretAccessKey are both required with kubernetes.existingEndpoint",
      "pass the access key and (as a secret) the secret key of that endpoint",
    );
  }

  const secretName = `${name}-credentials`;
  let accessKeyId: pulumi.Output<string>;
  let secretKey: pulumi.Output<string>;
  let endpoint: pulumi.Output<string>;
  if (byo) {
    accessKeyId = pulumi.output(ka.existingAccessKeyId!);
    secretKey = pulumi.secret(ka.existingSecretAccessKey!);
    endpoint = pulumi.output(ka.existingEndpoint!);
  } else {
    accessKeyId = pulumi.output(`floe-${name}`.slice(0, 20));
    secretKey = password(`${name}-secret-key`, childOpts, 40).result;
    endpoint = pulumi.output(`${ka.tls ? "https" : "http"}://${name}-minio.${ns}.svc.cluster.local:9000`);
  }
  const creds = new k8s.core.v1.Secret(
    `${name}-credentials`,
    {
      metadata: { name: secretName, namespace: ns, labels: labels("object-storage", name) },
      stringData: {
        ACCESS_KEY_ID: accessKeyId,
        ACCESS_SECRET_KEY: secretKey,
        AWS_ACCESS_KEY_ID: accessKeyId,
        AWS_SECRET_ACCESS_KEY: secretKey,
      },
    },
    childOpts,
  );

  if (!byo) {
    const rootPw = password(`${name}-root-password`, childOpts, 40);
    const root = new k8s.core.v1.Secret(
      `${name}-root`,
      {
        metadata: { name: `${name}-minio-root`, namespace: ns, labels: labels("object-storage", name) },
        stringData: { rootUser: "floe-root", rootPassword: rootPw.result },
      },
      childOpts,
    );
    // Encryption at rest: MinIO reads this env file (chart value extraSecret -> MINIO_CONFIG_ENV_FILE).
    const encrypt = ka.encryptAtRest ?? true;
    const envSecrets: k8s.core.v1.Secret[] = [];
    if (encrypt) {
      const key = new random.RandomBytes(`${name}-kms-key`, { length: 32 }, childOpts);
      envSecrets.push(
        new k8s.core.v1.Secret(
          `${name}-minio-env`,
          {
            metadata: { name: `${name}-minio-env`, namespace: ns, labels: labels("object-storage", name) },
            stringData: {
              "config.env": pulumi.secret(key.base64.apply((k) => `export MINIO_KMS_SECRET_KEY=${KMS_KEY_NAME}:${k}\nexport MINIO_KMS_AUTO_ENCRYPTION=on\n`)),
            },
          },
          childOpts,
        ),
      );
    }
    // TLS: MinIO serves the cert-manager certificate (the chart mounts tls.crt / tls.key as
    // public.crt / private.key and reloads them); its bucket Job trusts that certificate itself.
    const certs = ka.tls ? [serverCertificate(`${name}-minio-tls`, ns, `${name}-minio-tls`, `${name}-minio`, ka.tls, "object-storage", childOpts)] : [];
    const values = deepMerge(
      {
        mode: "standalone",
        ...(ka.tls ? { tls: { enabled: true, certSecret: `${name}-minio-tls`, publicCrt: "tls.crt", privateKey: "tls.key" } } : {}),
        ...(encrypt ? { extraSecret: `${name}-minio-env` } : {}),
        replicas: 1,
        existingSecret: `${name}-minio-root`,
        persistence: { enabled: true, size: ka.storageSize ?? "50Gi", ...(ka.storageClass ? { storageClass: ka.storageClass } : {}) },
        resources: ka.resources ?? { requests: { cpu: "250m", memory: "1Gi" } },
        buckets: [{ name: bucket, policy: "none", purge: false, versioning: true }],
        // A bucket-scoped user for floe; its secret key is read from the credentials Secret.
        policies: [
          {
            name: "floe-lake",
            statements: [
              { effect: "Allow", resources: [`arn:aws:s3:::${bucket}`], actions: ["s3:ListBucket", "s3:GetBucketLocation"] },
              {
                effect: "Allow",
                resources: [`arn:aws:s3:::${bucket}/*`],
                actions: ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"],
              },
            ],
          },
        ],
        users: [{ accessKey: accessKeyId, existingSecret: secretName, existingSecretKey: "ACCESS_SECRET_KEY", policy: "floe-lake" }],
        svcaccts: [],
        consoleService: { type: "ClusterIP" },
        service: { type: "ClusterIP", port: 9000 },
      },
      ka.helmValues,
    );
    new k8s.helm.v3.Release(
      `${name}-minio`,
      {
        name: `${name}-minio`,
        chart: "minio",
        repositoryOpts: { repo: "https://charts.min.io/" },
        version: ka.chartVersion ?? "5.4.0",
        namespace: ns,
        values,
      },
      { ...childOpts, dependsOn: [root, creds, ...envSecrets, ...certs] },
    );
  }

  return {
    bucket: pulumi.output(bucket),
    endpoint: endpoint.apply((e) => e as string | undefined),
    region: pulumi.output("us-east-1"),
    forcePathStyle: true,
    warehouseLocation: pulumi.output(`s3://${bucket}/${prefix}`),
    credentialsSecretName: creds.metadata.apply((m) => m.name as string | undefined),
    accessKeyId: accessKeyId.apply((x) => x as string | undefined),
    secretAccessKey: pulumi.secret(secretKey.apply((x) => x as string | undefined)),
    bucketArn: pulumi.output(undefined),
    caSecretName: pulumi.output(ka.tls?.caSecretName).apply((x) => x as string | undefined),
  };
}
