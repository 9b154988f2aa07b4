import { ownershipStatements } from "../../../runtime/upgrade/ownership";

describe("ownershipStatements (green gets blue's owners and grants)", () => {
  it("changes owners, re-grants, and skips roles green lacks", () => {
    const objs = [
      {
        kind: "table",
        name: "public.events",
        owner: "app",
        grants: [
          { grantee: "reporting", privilege: "SELECT", grantable: false },
          { grantee: "PUBLIC", privilege: "SELECT", grantable: false },
        ],
      },
      { kind: "sequence", name: "public.tickets_seq", owner: "app", grants: [] },
      { kind: "table", name: "public.gone", owner: "app", grants: [] },
      { kind: "type", name: "mood", owner: "ghost", grants: [] },
    ];
    const present = new Set(["table:public.events", "sequence:public.tickets_seq", "type:mood"]);
    expect(ownershipStatements(objs, new Set(["app", "postgres"]), present)).toEqual({
      sql: ['ALTER TABLE public.events OWNER TO "app"', "GRANT SELECT ON TABLE public.events TO PUBLIC", 'ALTER SEQUENCE public.tickets_seq OWNER TO "app"'],
      skipped: ["table public.events: SELECT for reporting, a role green does not have", "type mood: green has no role ghost"],
    });
  });

  it("re-creates default privileges, for one schema or all, and skips roles green lacks", () => {
    const defaults = [
      { owner: "app", schema: "public", on: "TABLES", grantee: "reporting", privilege: "SELECT", grantable: false },
      { owner: "app", schema: null, on: "SEQUENCES", grantee: "PUBLIC", privilege: "USAGE", grantable: true },
      { owner: "ghost", schema: "public", on: "TABLES", grantee: "reporting", privilege: "INSERT", grantable: false },
    ];
    expect(ownershipStatements([], new Set(["app", "reporting"]), new Set(), defaults)).toEqual({
      sql: [
        'ALTER DEFAULT PRIVILEGES FOR ROLE "app" IN SCHEMA public GRANT SELECT ON TABLES TO "reporting"',
        'ALTER DEFAULT PRIVILEGES FOR ROLE "app" GRANT USAGE ON SEQUENCES TO PUBLIC WITH GRANT OPTION',
      ],
      skipped: ["default privilege INSERT on tables of ghost: green has no role ghost"],
    });
  });
});
