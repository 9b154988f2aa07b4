/** The one metrics registry shared by every runtime program (served on /metrics). */
import { Registry, collectDefaultMetrics } from "prom-client";

export const registry = new Registry();
collectDefaultMetrics({ register: registry, prefix: "floe_process_" });
