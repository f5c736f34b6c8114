// Runs Zotero's own import translators (BibTeX.js, RIS.js, CSL JSON.js from zotero/translators)
// on files under Node, with the real Zotero.Utilities (zotero/utilities) and schema
// (zotero/zotero-schema) behind a minimal stand-in for the translation sandbox: reading the
// input, Zotero.Item#complete() (the clean-up Zotero's Translate.Sandbox.Base._itemDone does),
// and no options or hidden prefs set, as in a default Zotero install. Prints JSON.
//
// Neither Zotero's code nor this tool's inputs live in this repository; --zotero names a folder
// holding translators/{BibTeX.js,RIS.js,CSL JSON.js}, utilities/ (a checkout of zotero/utilities,
// with jsdom resolvable from it) and schema/schema.json. bench/zotero_import.py drives this.
//
//   node bench/zotero_import.mjs --zotero DIR FILE.bib FILE.ris FILE.json
//   node bench/zotero_import.mjs --zotero DIR --self-test   (the translators' own import tests)
import fs from "node:fs";
import path from "node:path";
import vm from "node:vm";
import { createRequire } from "node:module";

const TRANSLATOR_FOR = { ".bib": "BibTeX.js", ".ris": "RIS.js", ".json": "CSL JSON.js" };

function loadUtilities(root) {
  const require = createRequire(path.join(root, "utilities", "package.json"));
  const utilities = path.join(root, "utilities");
  globalThis.Zotero = { locale: "en-US", isNode: true, debug: () => {} };
  Zotero.Schema = require(path.join(utilities, "schema.js"));
  Zotero.Utilities = require(path.join(utilities, "utilities.js"));
  Zotero.Utilities.Item = require(path.join(utilities, "utilities_item.js"));
  Zotero.Date = require(path.join(utilities, "date.js"));
  Zotero.Schema.init(fs.readFileSync(path.join(root, "schema", "schema.json"), "utf-8"));
  Zotero.Date.init(fs.readFileSync(path.join(utilities, "resource", "dateFormats.json"), "utf-8"));
  const cachedTypes = require(path.join(utilities, "cachedTypes.js"));
  cachedTypes.setTypeSchema(require(path.join(utilities, "resource", "zoteroTypeSchemaData.js")));
  Object.assign(Zotero, cachedTypes);
  const collator = new Intl.Collator(["en-US"], { numeric: true, sensitivity: "base" });
  Zotero.localeCompare = (a, b) => collator.compare(a, b);
}

// Zotero.Utilities as translators see it (Zotero.Utilities.Translate in zotero/translate).
function translatorUtilities() {
  const zu = Object.create(Zotero.Utilities);
  Object.assign(zu, {
    formatDate: Zotero.Date.formatDate, strToDate: Zotero.Date.strToDate, strToISO: Zotero.Date.strToISO,
    itemToCSLJSON: Zotero.Utilities.Item.itemToCSLJSON, itemFromCSLJSON: Zotero.Utilities.Item.itemFromCSLJSON,
    itemTypeExists: Zotero.Utilities.Item.itemTypeExists, getVersion: () => "7.0",
  });
  return zu;
}

// Zotero.Translate.IO.String#read: n characters, or a line without its CR/LF; false at the end.
function stringReader(text) {
  let pos = 0;
  return (n) => {
    if (pos >= text.length) return false;
    if (n !== undefined) { const out = text.substr(pos, n); pos += n; return out; }
    const lf = text.indexOf("\n", pos);
    const end = lf === -1 ? text.length : lf;
    const line = text.slice(pos, end).replace(/\r$/, "");
    pos = end + 1;
    return line;
  };
}

// What Translate.Sandbox.Base._itemDone does to an imported item before it is saved.
function itemDone(item) {
  const out = {};
  const objects = ["attachments", "creators", "tags", "notes", "relations", "seeAlso"];
  for (const [key, value] of Object.entries(item)) {
    if (!value && value !== 0) continue;
    if (key === "unknownFields" || key === "unsupportedFields") continue;  // RIS.js scratch space
    if (objects.includes(key)) out[key] = Array.isArray(value) ? value : [value];
    else out[key] = typeof value === "string" ? value.trim() : typeof value === "object" ? String(value) : value;
  }
  out.creators = (out.creators || []).filter((c) => c.firstName || c.lastName);
  out.tags = (out.tags || []).map((t) => (typeof t === "object" ? { tag: t.tag || t.name } : { tag: t }));
  out.notes = (out.notes || []).map((n) => (typeof n === "object" ? n : { note: String(n) }));
  return out;
}

function translatorCode(file) {
  const source = fs.readFileSync(file, "utf-8");
  const headerEnd = source.indexOf("\n}\n") + 3;
  const testsAt = source.indexOf("/** BEGIN TEST CASES **/");
  return { code: source.slice(headerEnd, testsAt === -1 ? undefined : testsAt),
           tests: testsAt === -1 ? "" : source.slice(testsAt) };
}

async function runImport(root, translator, input) {
  const items = [];
  const Item = class {
    constructor(itemType) {
      Object.assign(this, { itemType, creators: [], notes: [], tags: [], seeAlso: [], attachments: [] });
    }
    setExtra(field, value) {
      const lines = String(this.extra || "").split("\n").filter((l) => !l.startsWith(field + ": "));
      this.extra = [...lines, `${field}: ${value}`].filter(Boolean).join("\n");
    }
    complete() { items.push(itemDone(this)); }
  };
  const Collection = class { complete() {} };
  const sandboxZotero = {
    read: stringReader(input.replace(/^\uFEFF/, "")), write: () => {}, debug: () => {},
    getOption: () => undefined, getHiddenPref: () => undefined, setProgress: () => {}, done: () => {},
    Item, Collection, Utilities: translatorUtilities(), parentTranslator: undefined,
  };
  const context = vm.createContext({ Zotero: sandboxZotero, Z: sandboxZotero, ZU: sandboxZotero.Utilities,
                                     console, Promise });
  vm.runInContext(translatorCode(path.join(root, "translators", translator)).code, context,
                  { filename: translator });
  await context.doImport();
  return items.map(saved);
}

// What saving does (as zotero/translate's translator tester mirrors it): a base field moves to
// the type's own field (publisher -> institution for a report), a field the type lacks is dropped.
const NOT_FIELDS = new Set(["itemID", "itemType", "creators", "notes", "tags", "seeAlso", "attachments", "relations", "complete"]);

function sortedTags(tags) {
  return (tags || []).map((t) => (typeof t === "object" ? { tag: t.tag || t.name } : { tag: t }))
    .sort((a, b) => (a.tag < b.tag ? -1 : a.tag > b.tag ? 1 : 0));
}

function saved(item) {
  const out = {}, dropped = [];
  const typeID = Zotero.ItemTypes.getID(item.itemType);
  for (const [field, value] of Object.entries(item)) {
    if (field === "creators") { out.creators = value.map(({ creatorTypeID, ...creator }) => creator); continue; }
    if (NOT_FIELDS.has(field)) { out[field] = value; continue; }
    const fieldID = Zotero.ItemFields.getID(field);
    const ownID = fieldID && Zotero.ItemFields.getFieldIDFromTypeAndBase(typeID, fieldID);
    if (ownID && ownID !== fieldID) out[Zotero.ItemFields.getName(ownID)] = value;
    else if (fieldID && Zotero.ItemFields.isValidForType(fieldID, typeID)) out[field] = value;
    else dropped.push(`${field}=${JSON.stringify(value)}`);
  }
  out.tags = sortedTags(out.tags);
  return dropped.length ? { ...out, "(dropped on save)": dropped } : out;
}

// The translators' own import test cases: evidence that this stand-in behaves like Zotero.
async function selfTest(root) {
  const results = {};
  for (const translator of Object.values(TRANSLATOR_FOR)) {
    const { tests } = translatorCode(path.join(root, "translators", translator));
    const cases = vm.runInNewContext(tests.replace("/** BEGIN TEST CASES **/", "") + "; testCases");
    let passed = 0, failed = 0;
    const failures = [];
    for (const test of cases.filter((c) => c.type === "import")) {
      let got;
      try {
        got = (await runImport(root, translator, test.input)).map(comparable);
      } catch (e) {
        got = String(e);
      }
      const want = test.items.map(comparable);
      if (canonical(got) === canonical(want)) passed++;
      else { failed++; failures.push({ input: test.input.slice(0, 40), differ: differences(got, want) }); }
    }
    results[translator] = { passed, failed, failures };
  }
  return results;
}

function differences(got, want) {
  if (!Array.isArray(got)) return [String(got).slice(0, 200)];
  if (got.length !== want.length) return [`${got.length} items, expected ${want.length}`];
  return got.flatMap((item, i) => [...new Set([...Object.keys(item), ...Object.keys(want[i])])]
    .filter((k) => canonical(item[k]) !== canonical(want[i][k]))
    .map((k) => `${k}: ${String(canonical(item[k])).slice(0, 150)} != ${String(canonical(want[i][k])).slice(0, 150)}`));
}

function canonical(value) {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value && typeof value === "object") {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

function comparable(item) {
  const out = {};
  for (const [k, v] of Object.entries(item)) {
    if (["(dropped on save)", "accessDate", "libraryCatalog", "seeAlso", "attachments", "relations"].includes(k)) continue;
    if (Array.isArray(v) && v.length === 0) continue;
    if (k === "tags") { out[k] = sortedTags(v); continue; }
    if (k === "notes") { out[k] = v.map((n) => (typeof n === "object" ? n.note : n)); continue; }
    out[k] = v;
  }
  return JSON.parse(JSON.stringify(out));
}

async function main() {
  const args = process.argv.slice(2);
  const at = args.indexOf("--zotero");
  if (at === -1) throw new Error("usage: node bench/zotero_import.mjs --zotero DIR (FILE... | --self-test)");
  const root = path.resolve(args.splice(at, 2)[1]);
  loadUtilities(root);
  if (args.includes("--self-test")) {
    console.log(JSON.stringify(await selfTest(root), null, 2));
    return;
  }
  const out = {};
  for (const file of args) {
    const translator = TRANSLATOR_FOR[path.extname(file)];
    out[path.basename(file)] = await runImport(root, translator, fs.readFileSync(file, "utf-8"));
  }
  console.log(JSON.stringify(out, null, 2));
}

main().catch((e) => { console.error(`zotero_import: ${e.message || e}`); process.exit(1); });
