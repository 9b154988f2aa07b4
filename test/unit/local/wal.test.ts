/** Pure helpers of physical copies: what a copy takes, WAL names, backup labels, history files, retention, targets. */
import fc from "fast-check";
import {
  chooseBase,
  copyPath,
  parseBackupLabel,
  parseHistory,
  parseTarget,
  prunableWal,
  segmentName,
  segmentNumber,
  segmentsBetween,
  walFileName,
} from "../../../runtime/local/wal";
import { archiveDirOf, restoreCommand, walArchiveSettings } from "../../../runtime/local/postgres";

const MB16 = 16 * 1024 * 1024;

describe("what a physical copy takes", () => {
  it.each([
    ["base/5/16384", false, true],
    ["global/pg_control", false, true],
    ["postgresql.auto.conf", false, true],
    ["pg_hba.conf", false, true],
    ["pg_wal", true, true], // created empty
    ["pg_wal/000000010000000000000003", false, false],
    ["pg_replslot/floe/state", false, false], // the parent's slots stay with the parent
    ["pg_stat_tmp/global.stat", false, false],
    ["postmaster.pid", false, false],
    ["postmaster.opts", false, false],
    ["server.log", false, false],
    ["backup_label", false, false],
    ["base/5/pg_internal.init", false, false],
    ["global/pg_internal.init", false, false],
    ["base/pgsql_tmp", true, false],
    ["base/5/pgsql_tmp123.0", false, false],
    ["base/5/postmaster.pid", false, true], // only the top-level one is the server's
  ])("%s (dir %s): %s", (rel, isDir, want) => expect(copyPath(rel, isDir)).toBe(want));
});

describe("WAL segment names", () => {
  it("names segments as pg_walfile_name does (16 MB segments, 256 per 4 GiB log)", () => {
    expect(walFileName(1, 0x3000060n, MB16)).toBe("000000010000000000000003");
    expect(walFileName(2, 0x1_0a00_0000n, MB16)).toBe("00000002000000010000000A");
    expect(segmentNumber("00000002000000010000000A", MB16)).toBe(0x10an);
  });
  it("round-trips every segment number and segment size", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), fc.constantFrom(1, 16, 64, 1024), fc.integer({ min: 1, max: 0xffff }), (lsn, mb, tli) => {
        const size = mb * 1024 * 1024;
        const segno = lsn / BigInt(size);
        expect(walFileName(tli, lsn, size)).toBe(segmentName(tli, segno, size));
        expect(segmentNumber(segmentName(tli, segno, size), size)).toBe(segno);
      }),
    );
  });
  it("a copy needs the segments from its start to the one holding its stop (a stop on a boundary ended before it)", () => {
    expect(segmentsBetween(1, 0x3000028n, 0x3000120n, MB16)).toEqual(["000000010000000000000003"]);
    expect(segmentsBetween(1, 0x3000028n, 0x5000000n, MB16)).toEqual(["000000010000000000000003", "000000010000000000000004"]);
    expect(segmentsBetween(1, 0x3000028n, 0x5000001n, MB16)).toHaveLength(3);
  });
});

it("reads backup_label and timeline history files", () => {
  const label = parseBackupLabel(
    "START WAL LOCATION: 0/6000028 (file 000000010000000000000006)\nCHECKPOINT LOCATION: 0/6000080\nBACKUP METHOD: streamed\nBACKUP FROM: primary\nSTART TIME: 2026-12-07 03:55:18 UTC\nLABEL: floe branch b1\nSTART TIMELINE: 1\n",
  );
  expect(label).toEqual({
    startLsn: 0x6000028n,
    startWalFile: "000000010000000000000006",
    checkpointLsn: 0x6000080n,
    timeline: 1,
    startTime: "2026-12-07 03:55:18 UTC",
    label: "floe branch b1",
  });
  expect(() => parseBackupLabel("LABEL: x\n")).toThrow(/no "START WAL LOCATION" line/);
  expect(parseHistory("1\t0/3000120\tno recovery target specified\n")).toEqual({ parent: 1, switchpoint: 0x3000120n, reason: "no recovery target specified" });
  expect(parseHistory("1\t0/3000120\tx\n\n2\t0/5A000B0\tbefore 0/5A000B0\n").switchpoint).toBe(0x5a000b0n);
});

it("retention removes archived WAL older than the oldest kept base backup, never history files", () => {
  const files = [
    "000000010000000000000003",
    "000000010000000000000004",
    "000000010000000000000005",
    "00000002.history",
    "000000020000000000000005.partial",
    "base",
  ];
  expect(prunableWal(files, "000000010000000000000005", MB16)).toEqual(["000000010000000000000003", "000000010000000000000004"]);
});

describe("point-in-time targets", () => {
  it("parses an LSN or a time with a zone, and refuses anything else", () => {
    expect(parseTarget("0/3000060")).toEqual({ lsn: 0x3000060n });
    expect(parseTarget("2026-05-01T12:00:00Z")).toEqual({ time: new Date("2026-05-01T12:00:00Z") });
    expect(parseTarget("2026-05-01 14:00:00+02")).toEqual({ time: new Date("2026-05-01T12:00:00Z") });
    for (const bad of ["yesterday", "2026-05-01 12:00:00", "0/XYZ"]) expect(() => parseTarget(bad)).toThrow(/neither an LSN/);
  });
  it("starts from the newest base backup consistent before the target, on the timeline", () => {
    const b = (id: string, stopLsn: string, stopTime: string, timeline = 1) => ({
      id,
      startLsn: "0/1000000",
      stopLsn,
      startWalFile: "000000010000000000000001",
      stopTime,
      timeline,
    });
    const bases = [b("a", "0/3000000", "2026-05-01T10:00:00Z"), b("b", "0/5000000", "2026-05-01T11:00:00Z"), b("c", "0/7000000", "2026-05-01T12:00:00Z", 2)];
    expect(chooseBase(bases, { lsn: 0x6000000n }, 1)?.id).toBe("b");
    expect(chooseBase(bases, { lsn: 0x5000000n }, 1)?.id).toBe("b");
    expect(chooseBase(bases, { lsn: 0x4ffffffn }, 1)?.id).toBe("a");
    expect(chooseBase(bases, { lsn: 0x2000000n }, 1)).toBeUndefined();
    expect(chooseBase(bases, { time: new Date("2026-05-01T11:00:00Z") }, 1)?.id).toBe("a"); // its stop time must be before the target
    expect(chooseBase(bases, { time: new Date("2026-05-01T13:00:00Z") }, 2)?.id).toBe("c");
  });
});

it("floe's archive command round-trips its directory and refuses paths a shell would misread", () => {
  const s = walArchiveSettings("/var/lib/floe/pg0.wal");
  expect(s.archive_mode).toBe("on");
  expect(archiveDirOf(s.archive_command)).toBe("/var/lib/floe/pg0.wal");
  expect(archiveDirOf("cp %p /somewhere/%f")).toBeUndefined();
  expect(restoreCommand("/a/b")).toBe('cp "/a/b/%f" "%p"');
  for (const bad of ['/a/"b', "/a/$HOME", "relative/dir", "/a/`x`"]) expect(() => walArchiveSettings(bad)).toThrow(/must be an absolute path without quotes/);
});
