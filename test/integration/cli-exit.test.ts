/**
 * The floe CLI ends without losing output written to a slow pipe (runtime/core/exit.ts). A child
 * writes 4 MiB to stdout and ends the way floe's CLI does while the test holds its pipe unread for
 * a moment: on Linux Node queues what the pipe does not take, and a bare process.exit() drops it
 * (the e2e upgrade test read a cut `floe query --json` that way under load). The bare exit is
 * checked to lose output here, so the test shows what it guards.
 */
import { spawn } from "node:child_process";
import { join } from "node:path";

const EXIT = join(__dirname, "../../dist/runtime/core/exit.js");
const SIZE = 4 << 20;

/** Runs `ending` after writing SIZE bytes of JSON; reads nothing for 1 s; returns the bytes read and the exit code. */
function run(ending: string): Promise<{ bytes: number; code: number | null; json: boolean }> {
  const script = `
    const { exitWhenFlushed } = require(${JSON.stringify(EXIT)});
    process.stdout.write(JSON.stringify({ s: "x".repeat(${SIZE}) }));
    ${ending};`;
  const child = spawn(process.execPath, ["-e", script], { stdio: ["ignore", "pipe", "inherit"] });
  child.stdout.pause();
  const chunks: Buffer[] = [];
  child.stdout.on("data", (c: Buffer) => chunks.push(c));
  setTimeout(() => child.stdout.resume(), 1000);
  return new Promise((resolve) =>
    child.on("close", (code) => {
      const out = Buffer.concat(chunks).toString();
      let json = true;
      try {
        JSON.parse(out);
      } catch {
        json = false;
      }
      resolve({ bytes: out.length, code, json });
    }),
  );
}

describe("floe CLI exit", () => {
  it("a bare process.exit() loses what a slow pipe did not take yet (what the test guards against)", async () => {
    const r = await run("process.exit(3)");
    expect(r.code).toBe(3);
    expect(r.bytes).toBeLessThan(SIZE);
    expect(r.json).toBe(false);
  });

  it("exitWhenFlushed writes everything, then exits with the code", async () => {
    const r = await run("exitWhenFlushed(3); setInterval(() => {}, 1000)"); // a handle left open does not keep it alive
    expect(r.code).toBe(3);
    expect(r.json).toBe(true);
    expect(r.bytes).toBe(SIZE + 8);
  });
});
