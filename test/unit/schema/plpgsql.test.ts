/** Constant folding of EXECUTE strings and the SQL found in PL/pgSQL bodies. */
import * as pgq from "libpg-query";
import { constantValue, embeddedSql, formatConstant, quoteLiteral } from "../../../runtime/schema/plpgsql";
import { loadParser } from "../../../runtime/schema/parse";

beforeAll(() => loadParser());
const value = (expr: string) => constantValue((pgq.parseSync(`SELECT ${expr}`) as any).stmts[0].stmt.SelectStmt.targetList[0].ResTarget.val);

describe("constantValue", () => {
  it.each([
    ["'DROP TABLE users'", "DROP TABLE users"],
    ["$q$DROP TABLE users$q$", "DROP TABLE users"],
    ["'DROP ' || 'TABLE ' || quote_ident('Users')", 'DROP TABLE "Users"'],
    ["format('ALTER TABLE %I DROP COLUMN %s', 'orders', 'note')", 'ALTER TABLE "orders" DROP COLUMN note'],
    ["format('%2$s %1$L %%', 'it''s', 'x')", "x 'it''s' %"],
    ["concat('DROP TABLE ', 'a', 1)", "DROP TABLE a1"],
    ["'DROP TABLE x'::text", "DROP TABLE x"],
    ["pg_catalog.quote_literal(E'a\\\\b')", "E'a\\\\b'"],
  ])("%s is the constant %s", (expr, expected) => {
    expect(value(expr)).toBe(expected);
  });

  it.each([
    "'DROP TABLE ' || t",
    "format('DROP TABLE %I', tbl)",
    "format('%-10s', 'x')",
    "format('%s %s', 'only one')",
    "upper('drop table x')",
    "myschema.format('x')",
    "NULL",
    "'x' || NULL",
    "(SELECT 'DROP TABLE x')",
    "'x'::regclass",
  ])("%s is not constant", (expr) => {
    expect(value(expr)).toBeUndefined();
  });

  it("formats and quotes like Postgres", () => {
    expect(formatConstant("%I.%I", ["public", 'a"b'])).toBe('"public"."a""b"');
    expect(quoteLiteral("O'Reilly")).toBe("'O''Reilly'");
  });
});

describe("embeddedSql", () => {
  it("finds statements, expressions and dynamic SQL with their body lines, declarations once", () => {
    const fn = (
      pgq.parsePlPgSQLSync(`CREATE FUNCTION f(p int) RETURNS SETOF int LANGUAGE plpgsql AS $$
DECLARE r record; n int := start_value(); c refcursor;
BEGIN
  SELECT count(*) INTO n FROM users WHERE id = p;
  n := purge(n);
  IF cleanup() THEN PERFORM 1; END IF;
  EXECUTE 'DROP TABLE users' USING n;
  FOR r IN EXECUTE 'SELECT 1' LOOP END LOOP;
  RETURN QUERY EXECUTE 'SELECT 2';
  OPEN c FOR EXECUTE 'SELECT 3';
  CALL proc();
END $$`) as any
    ).plpgsql_funcs[0].PLpgSQL_function;
    expect(embeddedSql(fn).map((e) => `${e.lineno} ${e.role} ${e.query.replace(/\s+/g, " ")}`)).toEqual([
      "2 expression start_value()",
      "4 statement SELECT count(*) FROM users WHERE id = p",
      "5 expression purge(n)",
      "6 expression cleanup()",
      "6 statement SELECT 1",
      "7 dynamic 'DROP TABLE users'",
      "7 expression n",
      "8 dynamic 'SELECT 1'",
      "9 dynamic 'SELECT 2'",
      "10 dynamic 'SELECT 3'",
      "11 statement CALL proc()",
    ]);
  });
});
