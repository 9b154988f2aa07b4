import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import { deepMerge } from "../util";

/** Renders a Trino catalog properties file. */
export function catalogProperties(props: Record<string, string>): string {
  return Object.entries(props)
    .map(([k, val]) => `${k}=${val}`)
    .join("\n");
}

/** The Trino Helm release shared by the kubernetes and aws (EKS) builders. */
export function trinoRelease(
  name: string,
  ns: string,
  catalogName: string,
  properties: pulumi.Input<string>,
  base: Record<string, unknown>,
  override: Record<string, unknown> | undefined,
  version: pulumi.Input<string> | undefined,
  opts: pulumi.CustomResourceOptions,
): { release: k8s.helm.v3.Release; endpoint: pulumi.Output<string> } {
  const release = new k8s.helm.v3.Release(
    `${name}-trino`,
    {
      name: `${name}-trino`,
      chart: "trino",
      repositoryOpts: { repo: "https://trinodb.github.io/charts" },
      version: version ?? "1.39.1",
      namespace: ns,
      values: deepMerge({ ...base, catalogs: { [catalogName]: properties } }, override),
    },
    opts,
  );
  return { release, endpoint: release.status.apply(() => `http://${name}-trino.${ns}.svc.cluster.local:8080`) };
}
