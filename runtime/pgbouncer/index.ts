/** floe's one pgBouncer module: config render and parse, the admin console, a local process. */
export * from "./config";
export * from "./admin";
export * from "./process";
