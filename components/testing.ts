/**
 * `floe/testing`: unit-test stacks built on floe with `pulumi.runtime.setMocks`.
 *
 *   const mocks = await installFloeMocks();            // or { preview: true } for unknown values
 *   const platform = new DataPlatform("p", { target: "aws" });
 *   await mocks.settled(platform.connectionString);     // wait for the program to register everything
 *   expect(mocks.typeCounts()["aws:rds/cluster:Cluster"]).toBe(1);
 *   expect(mocks.secretLeaks()).toEqual([]);            // no generated password in plaintext
 *
 * The mocks return realistic outputs (endpoints, ARNs, ids, generated passwords) for the resource
 * types and provider functions floe uses, and record every resource with its parent URN, provider
 * reference and inputs (both decoded and as sent, with secret markers) for assertions.
 */
import * as pulumi from "@pulumi/pulumi";

const SECRET_SIG = "4dabf18193072939515e22adb298388d";
const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

export interface RecordedResource {
  type: string;
  name: string;
  /** URN as the mock monitor computes it (parent type chain joined by "$"). */
  urn: string;
  /** URN of the parent; undefined for the stack's direct children. */
  parentUrn?: string;
  /** Provider reference "urn::id" the resource was registered with, if any. */
  provider?: string;
  /** false for component resources. */
  custom: boolean;
  /** Inputs decoded (secrets unwrapped). */
  inputs: Record<string, any>;
  /** Inputs as sent to the engine: secrets still wrapped in their marker objects, unknowns as the unknown sentinel. */
  rawInputs: unknown;
  /** The state the mock returned. */
  state: Record<string, any>;
}

export interface FloeMockOptions {
  /** Run as `pulumi preview`: computed outputs (endpoints, ARNs, ids) stay unknown. Defaults to false. */
  preview?: boolean;
  /** Defaults to "floe-test". */
  project?: string;
  /** Defaults to "test". */
  stack?: string;
  /** Region returned by aws:getRegion. Defaults to "us-east-1". */
  region?: string;
  /** Account id returned by aws:getCallerIdentity. Defaults to "123456789012". */
  accountId?: string;
}

export interface FloeMocks {
  readonly resources: RecordedResource[];
  readonly calls: { token: string; inputs: Record<string, any>; provider?: string }[];
  /** Passwords handed out for random:RandomPassword. */
  readonly passwords: string[];
  /** Custom resources (not components) of a type. */
  ofType(type: string): RecordedResource[];
  /** The resource with this logical name (and type, if several share the name). Throws if absent. */
  named(name: string, type?: string): RecordedResource;
  /** type → count, for custom resources only (components excluded unless `withComponents`). */
  typeCounts(withComponents?: boolean): Record<string, number>;
  /** Children (direct) of the resource with this URN. */
  childrenOf(urn: string): RecordedResource[];
  /** Every place a generated password (or any `needles`) appears in plaintext in a resource input. */
  secretLeaks(needles?: string[]): { resource: string; path: string }[];
  /** Resolves once the outputs are settled and every registration has been recorded. */
  settled(...outputs: pulumi.Input<unknown>[]): Promise<void>;
  /** Forget everything recorded (between tests). */
  reset(): void;
}

/** The value an output resolves to (works in tests: resolves undefined when unknown in preview). */
export async function valueOf<T>(o: pulumi.Input<T>): Promise<T | undefined> {
  // eslint-disable-next-line no-restricted-syntax -- Output.isKnown is the SDK's internal promise, absent from its public types
  const out = pulumi.output(o) as any;
  if (!(await out.isKnown)) return undefined;
  return (await out.promise()) as T;
}

/** Whether the output is known (false for computed values in preview). */
export async function isKnown(o: pulumi.Output<unknown>): Promise<boolean> {
  // eslint-disable-next-line no-restricted-syntax -- Output.isKnown: internal to the SDK, not in its types
  return (o as any).isKnown as Promise<boolean>;
}

/** Whether the output is marked secret. */
export async function isSecret(o: pulumi.Output<unknown>): Promise<boolean> {
  // eslint-disable-next-line no-restricted-syntax -- Output.isSecret: internal to the SDK, not in its types
  return (o as any).isSecret as Promise<boolean>;
}

/** Replaces secret marker objects by their values (what a test usually wants to assert on). */
export function unwrapSecrets(x: unknown): any {
  if (Array.isArray(x)) return x.map(unwrapSecrets);
  if (x && typeof x === "object") {
    const o = x as Record<string, unknown>;
    if (o[SECRET_SIG] !== undefined && "value" in o) return unwrapSecrets(o.value);
    return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, unwrapSecrets(v)]));
  }
  return x;
}

function hash(s: string): string {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619) >>> 0;
  return h.toString(16).padStart(8, "0");
}

function mockPassword(name: string, length: number): string {
  const alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789-_";
  let seed = parseInt(hash(name), 16) || 1;
  let out = "";
  for (let i = 0; i < Math.max(length, 16); i++) {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    out += alphabet[seed % alphabet.length];
  }
  return out;
}

/** Computed outputs per resource type, like the real providers return. */
function computed(type: string, name: string, inputs: Record<string, any>, region: string, account: string): { id: string; extra: Record<string, unknown> } {
  const h = hash(name);
  const rds = `c${h}.${region}.rds.amazonaws.com`;
  switch (type) {
    case "aws:rds/cluster:Cluster":
      return {
        id: name,
        extra: {
          clusterIdentifier: name,
          endpoint: `${name}.cluster-${rds}`,
          readerEndpoint: `${name}.cluster-ro-${rds}`,
          port: 5432,
          arn: `arn:aws:rds:${region}:${account}:cluster:${name}`,
          engineVersion: inputs.engineVersion,
        },
      };
    case "aws:rds/clusterInstance:ClusterInstance":
      return { id: name, extra: { identifier: name, endpoint: `${name}.${rds}`, arn: `arn:aws:rds:${region}:${account}:db:${name}` } };
    case "aws:rds/shardGroup:ShardGroup":
      return {
        id: inputs.dbShardGroupIdentifier ?? name,
        extra: {
          endpoint: `${inputs.dbShardGroupIdentifier ?? name}.limitless-${rds}`,
          arn: `arn:aws:rds:${region}:${account}:shard-group:${name}`,
          dbShardGroupResourceId: `shardgroup-${h}`,
        },
      };
    case "aws:rds/proxy:Proxy":
      return { id: name, extra: { name, endpoint: `${name}.proxy-${rds}`, arn: `arn:aws:rds:${region}:${account}:db-proxy:prx-${h}` } };
    case "aws:rds/proxyDefaultTargetGroup:ProxyDefaultTargetGroup":
      return { id: inputs.dbProxyName ?? name, extra: { name: "default", arn: `arn:aws:rds:${region}:${account}:target-group:prx-tg-${h}` } };
    case "aws:rds/subnetGroup:SubnetGroup":
    case "aws:rds/clusterParameterGroup:ClusterParameterGroup":
      return { id: name, extra: { name: inputs.name ?? `${name}-${h}`, arn: `arn:aws:rds:${region}:${account}:pg:${name}` } };
    case "aws:ec2/vpc:Vpc":
      return { id: `vpc-${h}`, extra: { arn: `arn:aws:ec2:${region}:${account}:vpc/vpc-${h}`, mainRouteTableId: `rtb-${h}` } };
    case "aws:ec2/vpcEndpoint:VpcEndpoint":
      return {
        id: `vpce-${h}`,
        extra: {
          arn: `arn:aws:ec2:${region}:${account}:vpc-endpoint/vpce-${h}`,
          ...(inputs.vpcEndpointType === "Gateway" ? { prefixListId: `pl-${h.slice(0, 8)}` } : {}),
        },
      };
    case "aws:ec2/subnet:Subnet":
      return { id: `subnet-${h}`, extra: { arn: `arn:aws:ec2:${region}:${account}:subnet/subnet-${h}` } };
    case "aws:ec2/securityGroup:SecurityGroup":
      return { id: `sg-${h}`, extra: { arn: `arn:aws:ec2:${region}:${account}:security-group/sg-${h}` } };
    case "aws:s3/bucket:Bucket": {
      const bucket = inputs.bucket ?? `${inputs.bucketPrefix ?? name + "-"}${h}`;
      return { id: bucket, extra: { bucket, arn: `arn:aws:s3:::${bucket}`, bucketDomainName: `${bucket}.s3.amazonaws.com`, region } };
    }
    case "aws:iam/role:Role":
      return { id: `${name}-${h}`, extra: { name: `${name}-${h}`, arn: `arn:aws:iam::${account}:role/${name}-${h}`, uniqueId: `AROA${h.toUpperCase()}` } };
    case "aws:iam/policy:Policy":
      return { id: `arn:aws:iam::${account}:policy/${name}-${h}`, extra: { name: `${name}-${h}`, arn: `arn:aws:iam::${account}:policy/${name}-${h}` } };
    case "aws:secretsmanager/secret:Secret":
      return {
        id: `arn:aws:secretsmanager:${region}:${account}:secret:${name}-${h.slice(0, 6)}`,
        extra: { arn: `arn:aws:secretsmanager:${region}:${account}:secret:${name}-${h.slice(0, 6)}`, name },
      };
    case "aws:ecs/cluster:Cluster":
      return { id: `arn:aws:ecs:${region}:${account}:cluster/${name}`, extra: { name, arn: `arn:aws:ecs:${region}:${account}:cluster/${name}` } };
    case "aws:ecs/taskDefinition:TaskDefinition":
      return { id: `${inputs.family}`, extra: { arn: `arn:aws:ecs:${region}:${account}:task-definition/${inputs.family}:1`, revision: 1 } };
    case "aws:ecs/service:Service":
      return { id: `arn:aws:ecs:${region}:${account}:service/${inputs.name ?? name}`, extra: { name: inputs.name ?? name } };
    case "aws:cloudwatch/logGroup:LogGroup":
      return { id: inputs.name ?? name, extra: { name: inputs.name ?? name, arn: `arn:aws:logs:${region}:${account}:log-group:${inputs.name ?? name}` } };
    case "aws:athena/workgroup:Workgroup":
      return { id: inputs.name ?? name, extra: { arn: `arn:aws:athena:${region}:${account}:workgroup/${inputs.name ?? name}` } };
    case "aws:glue/catalogDatabase:CatalogDatabase":
      return { id: `${account}:${inputs.name}`, extra: { arn: `arn:aws:glue:${region}:${account}:database/${inputs.name}`, catalogId: account } };
    case "aws:s3tables/tableBucket:TableBucket":
      return { id: name, extra: { arn: `arn:aws:s3tables:${region}:${account}:bucket/${inputs.name ?? name}` } };
    case "random:index/randomBytes:RandomBytes": {
      const bytes = Buffer.from(mockPassword(name, (inputs.length ?? 32) * 2)).subarray(0, inputs.length ?? 32);
      return { id: "none", extra: { base64: bytes.toString("base64"), hex: bytes.toString("hex") } };
    }
    case "random:index/randomPassword:RandomPassword":
      return { id: "none", extra: { result: mockPassword(name, inputs.length ?? 32), bcryptHash: `$2a$10$${h}` } };
    case "kubernetes:helm.sh/v3:Release":
      return {
        id: `${inputs.namespace ?? "default"}/${inputs.name ?? name}`,
        extra: {
          name: inputs.name ?? name,
          status: {
            name: inputs.name ?? name,
            namespace: inputs.namespace ?? "default",
            status: "deployed",
            revision: 1,
            chart: inputs.chart,
            version: inputs.version,
          },
        },
      };
  }
  // The local target's processes (dynamic resources): the outputs their providers return at create.
  const port = 40000 + (parseInt(h, 16) % 20000);
  switch (type) {
    case "pulumi-nodejs:dynamic/floe:LocalPostgresServer": {
      const given = inputs.passwords ?? {};
      const pw = (k: string) => given[k] ?? mockPassword(`${name}-${k}`, 24);
      return {
        id: inputs.dataDir,
        extra: {
          port: inputs.requestedPort || port,
          pid: 1000 + (port % 1000),
          adminUsername: "postgres",
          adminPassword: pw("admin"),
          appPassword: pw("app"),
          replicationPassword: pw("replication"),
        },
      };
    }
    case "pulumi-nodejs:dynamic/floe:LocalPgBouncer":
      return { id: inputs.dir, extra: { port: inputs.requestedPort || port, pid: 2000 + (port % 1000) } };
    case "pulumi-nodejs:dynamic/floe:LocalDirectory":
      return { id: inputs.path, extra: { location: `file://${inputs.path}` } };
    case "pulumi-nodejs:dynamic/floe:LocalCdcWriter":
      return { id: inputs.dir, extra: { pid: 3000 + (port % 1000), httpPort: port, configFile: `${inputs.dir}/cdc.json`, logFile: `${inputs.dir}/cdc.log` } };
    case "pulumi-nodejs:dynamic/floe:LocalSqlCatalog":
      return { id: inputs.name ?? name, extra: {} };
    case "pulumi-nodejs:dynamic/floe:LocalRestCatalogServer": {
      const p = inputs.requestedPort || port;
      const credential = inputs.requestedCredential || `floe:${mockPassword(`${name}-credential`, 32)}`;
      return { id: inputs.dir, extra: { port: p, pid: 4000 + (port % 1000), uri: `http://127.0.0.1:${p}`, logFile: `${inputs.dir}/server.log`, credential } };
    }
  }
  if (type.startsWith("kubernetes:")) {
    const md = inputs.metadata ?? {};
    const mdName = md.name ?? `${name}-${h}`;
    return { id: md.namespace ? `${md.namespace}/${mdName}` : mdName, extra: { metadata: { ...md, name: mdName, uid: `uid-${h}` } } };
  }
  if (type.startsWith("postgresql:index/")) return { id: inputs.name ?? name, extra: { name: inputs.name ?? name } };
  if (type.startsWith("pulumi:providers:")) return { id: `provider-${h}`, extra: {} };
  return { id: `${name}-${h}`, extra: {} };
}

function callResult(token: string, inputs: Record<string, any>, region: string, account: string): Record<string, any> {
  switch (token) {
    case "aws:index/getRegion:getRegion":
      return { id: region, name: region, region, description: region, endpoint: `ec2.${region}.amazonaws.com` };
    case "aws:index/getCallerIdentity:getCallerIdentity":
      return { id: account, accountId: account, arn: `arn:aws:iam::${account}:user/test`, userId: "AIDATEST" };
    case "aws:index/getPartition:getPartition":
      return { id: "aws", partition: "aws", dnsSuffix: "amazonaws.com", reverseDnsPrefix: "com.amazonaws" };
    case "aws:index/getAvailabilityZones:getAvailabilityZones":
      return { id: region, names: ["a", "b", "c"].map((z) => `${region}${z}`), zoneIds: ["1", "2", "3"].map((z) => `use1-az${z}`) };
    case "aws:ec2/getVpc:getVpc":
      return {
        id: inputs.id ?? "vpc-existing",
        cidrBlock: "10.0.0.0/16",
        arn: `arn:aws:ec2:${region}:${account}:vpc/${inputs.id}`,
        mainRouteTableId: "rtb-main",
      };
    case "aws:ec2/getPrefixList:getPrefixList":
      return { id: `pl-${(inputs.name ?? "x").length}s3`, name: inputs.name, cidrBlocks: ["52.216.0.0/15"] };
  }
  return inputs;
}

/** Installs the mocks. Call before constructing resources (in `beforeAll`/`beforeEach`). */
export async function installFloeMocks(options: FloeMockOptions = {}): Promise<FloeMocks> {
  const region = options.region ?? "us-east-1";
  const account = options.accountId ?? "123456789012";
  const preview = options.preview ?? false;
  const resources: RecordedResource[] = [];
  const calls: { token: string; inputs: Record<string, any>; provider?: string }[] = [];
  const passwords: string[] = [];
  const pending = new Map<string, { parent?: string; raw: unknown; custom: boolean }>();
  let inflight = 0;

  await pulumi.runtime.setMocks(
    {
      newResource(args: pulumi.runtime.MockResourceArgs): { id: string | undefined; state: Record<string, any> } {
        const key = `${args.type}::${args.name}`;
        const meta = pending.get(key);
        pending.delete(key);
        const inputs = unwrapSecrets(args.inputs) as Record<string, any>;
        const { id, extra } = computed(args.type, args.name, inputs, region, account);
        if (args.type === "random:index/randomPassword:RandomPassword") passwords.push(extra.result as string);
        if (args.type === "random:index/randomBytes:RandomBytes") passwords.push(extra.base64 as string);
        if (args.type === "pulumi-nodejs:dynamic/floe:LocalPostgresServer" && !inputs.passwords)
          passwords.push(...(["adminPassword", "appPassword", "replicationPassword"] as const).map((k) => extra[k] as string));
        if (args.type === "pulumi-nodejs:dynamic/floe:LocalRestCatalogServer" && !inputs.requestedCredential)
          passwords.push((extra.credential as string).split(":")[1]);
        // In preview only what was passed in is known: ids, endpoints, ARNs and generated passwords stay unknown.
        const state = preview ? { ...args.inputs } : { ...args.inputs, ...extra };
        const parentUrn = meta?.parent || undefined;
        const parentType = parentUrn ? parentUrn.split("::")[2].split("$").pop() + "$" : "";
        resources.push({
          type: args.type,
          name: args.name,
          urn: `urn:pulumi:${pulumi.getStack()}::${pulumi.getProject()}::${parentType}${args.type}::${args.name}`,
          parentUrn,
          provider: args.provider || undefined,
          custom: meta ? meta.custom : args.custom !== false,
          inputs,
          rawInputs: meta?.raw ?? args.inputs,
          state,
        });
        return { id: preview ? undefined : id, state };
      },
      call(args: pulumi.runtime.MockCallArgs) {
        calls.push({ token: args.token, inputs: args.inputs, provider: args.provider || undefined });
        return callResult(args.token, args.inputs, region, account);
      },
    },
    options.project ?? "floe-test",
    options.stack ?? "test",
    preview,
  );

  // Record what the SDK sends (parent, secret markers) by wrapping the mock monitor.
  // eslint-disable-next-line no-restricted-syntax -- getMonitor() is typed as the gRPC client; the mock monitor's registerResource is replaced here
  const monitor = pulumi.runtime.getMonitor() as any;
  const original = monitor.registerResource.bind(monitor);
  monitor.registerResource = (req: any, callback: (err: unknown, resp: unknown) => void) => {
    inflight++;
    pending.set(`${req.getType()}::${req.getName()}`, { parent: req.getParent(), raw: req.getObject()?.toJavaScript(), custom: req.getCustom() });
    return original(req, (err: unknown, resp: unknown) => {
      inflight--;
      callback(err, resp);
    });
  };

  const custom = () => resources.filter((r) => r.custom);
  return {
    resources,
    calls,
    passwords,
    ofType: (type) => custom().filter((r) => r.type === type),
    named(name, type) {
      const found = resources.filter((r) => r.name === name && (type === undefined || r.type === type));
      if (found.length !== 1) throw new Error(`expected one resource named ${name}${type ? ` of type ${type}` : ""}, found ${found.length}`);
      return found[0];
    },
    typeCounts(withComponents = false) {
      const out: Record<string, number> = {};
      for (const r of withComponents ? resources : custom()) out[r.type] = (out[r.type] ?? 0) + 1;
      return out;
    },
    childrenOf: (urn) => resources.filter((r) => r.parentUrn === urn),
    secretLeaks(needles) {
      const ns = (needles ?? passwords).filter((n) => n.length >= 8);
      const leaks: { resource: string; path: string }[] = [];
      const walk = (x: unknown, path: string, res: string) => {
        if (typeof x === "string") {
          if (ns.some((n) => x.includes(n))) leaks.push({ resource: res, path });
        } else if (Array.isArray(x)) {
          x.forEach((e, i) => walk(e, `${path}[${i}]`, res));
        } else if (x && typeof x === "object") {
          const o = x as Record<string, unknown>;
          if (o[SECRET_SIG] !== undefined && "value" in o) return; // wrapped secret: fine
          for (const [k, val] of Object.entries(o)) walk(val, `${path}.${k}`, res);
        }
      };
      for (const r of resources) walk(r.rawInputs, "$", `${r.type}::${r.name}`);
      return leaks;
    },
    async settled(...outputs) {
      await Promise.all(outputs.map((o) => valueOf(o)));
      // Let registrations triggered by applies drain.
      for (let i = 0; i < 200; i++) {
        await new Promise((r) => setImmediate(r));
        if (inflight === 0 && pending.size === 0) {
          await new Promise((r) => setTimeout(r, 5));
          if (inflight === 0) return;
        }
      }
    },
    reset() {
      resources.length = 0;
      calls.length = 0;
      passwords.length = 0;
      pending.clear();
    },
  };
}

export { UNKNOWN as UNKNOWN_SENTINEL };
