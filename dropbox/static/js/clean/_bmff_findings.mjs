// What the ISO BMFF metadata boxes bmff.mjs drops said, the twin of metadata/_bmff_findings.py: findings
// for the officer, and the file ranges of a dropped meta box's Exif and XMP items, to zero.
import { QUIET, boxName, child, children, dv, latin, metaChildren, other, text, u16, u32 } from "./_boxes.mjs";
import { heifItems, itemKinds } from "./_heif.mjs";
import { CannotClean, finding } from "./source.mjs";

const ITEM_BOXES = new Set(["hdlr", "keys", "iinf", "iloc", "pitm", "iprp", "iref", "idat", "dinf", "ipro", "grpl"]);

const ATOM_KINDS = new Map([
  ["©xyz", "place"], ["loci", "place"],
  ["©mak", "device"], ["©mod", "device"], ["manu", "device"], ["modl", "device"],
  ["©day", "time"], ["yrrc", "time"],
  ["©too", "software"], ["©swr", "software"], ["©enc", "software"],
  ["covr", "thumbnail"],
]); // anything else: other
for (const name of ["©ART", "©aut", "auth", "perf", "aART", "©wrt", "©prd", "©cpy", "cprt", "©dir"]) ATOM_KINDS.set(name, "person");
for (const name of ["©nam", "titl", "dscp", "©cmt", "©des", "desc", "ldes", "©inf", "kywd", "albm", "©alb", "gnre", "©gen", "©lyr"]) {
  ATOM_KINDS.set(name, "text");
}
const KEY_KINDS = [
  ["place", /locat|direction|gps|xyz/i],
  ["device", /make|model|camera|lens|serial/i],
  ["software", /software|encoder/i],
  ["time", /date|time/i],
  ["person", /author|artist|owner|publisher|copyright|displayname/i],
  ["text", /title|descri|comment|keyword|information|name/i],
];
const ASSET_TEXT = new Set(["titl", "auth", "perf", "dscp", "gnre", "albm", "cprt", "kywd"]);

/** A QuickTime time (seconds since 1904) as a date, or the number when it is absurd. */
export function macTime(seconds) {
  if (seconds > 8_000_000_000) return String(seconds);
  return new Date(Date.UTC(1904, 0, 1) + seconds * 1000).toISOString().slice(0, 19).replace("T", " ");
}

const join = (where, name) => (where ? `${where}/${name}` : name);

/** What a dropped box held. Its content is parsed leniently: it goes whatever it says. */
export function boxFindings(data, box, where) {
  try {
    if (box.kind === "udta") return udtaFindings(data, box, join(where, "udta"));
    if (box.kind === "meta") return metaFindings(data, box, join(where, "meta"));
  } catch (e) {
    if (!(e instanceof CannotClean) && !(e instanceof RangeError)) throw e;
  }
  return [other(box, where)];
}

function udtaFindings(data, udta, where) {
  const found = [];
  for (const box of children(data, udta.body, udta.end)) {
    if (box.kind === "meta") found.push(...metaFindings(data, box, `${where}/meta`));
    else if (box.kind === "XMP_" || box.kind === "uuid") found.push(other(box, where));
    else if (!QUIET.has(box.kind)) {
      const name = boxName(box.kind);
      found.push(finding(ATOM_KINDS.get(name) ?? "other", `${where}/${name}`, atomValue(data, box)));
    }
  }
  return found;
}

const keyKind = (key) => (KEY_KINDS.find(([, pattern]) => pattern.test(key)) ?? ["other"])[0];

/** An iTunes (mdir) or Apple (mdta) metadata box: one finding per item of its ilst. */
function metaFindings(data, meta, where) {
  const boxes = metaChildren(data, meta);
  const keys = keyNames(data, boxes.find((b) => b.kind === "keys") ?? null);
  const found = [];
  for (const box of boxes) {
    if (box.kind === "ilst") {
      for (const item of children(data, box.body, box.end)) {
        const index = u32(data, item.start + 4);
        let name;
        let kind;
        if (keys.length && index >= 1 && index <= keys.length) {
          name = keys[index - 1];
          kind = keyKind(name);
        } else if (item.kind === "----") {
          name = freeformName(data, item);
          kind = keyKind(name);
        } else {
          name = boxName(item.kind);
          kind = ATOM_KINDS.get(name) ?? "other";
        }
        found.push(finding(kind, `${where}/${name}`, atomValue(data, item)));
      }
    } else if (box.kind === "iinf") {
      for (const kind of itemKinds(data, box).values()) found.push(finding("other", `${where}/${kind}`, kind));
    } else if (!ITEM_BOXES.has(box.kind) && !QUIET.has(box.kind)) {
      found.push(other(box, where));
    }
  }
  return found;
}

/** The file ranges of the Exif and XMP items of a meta box we drop: outside it (in mdat) their bytes would
 * stay behind, unreferenced, so they are zeroed; inside it (idat) they go with it. */
export function deadItems(data, meta, base) {
  let items;
  try {
    items = heifItems(data, meta, base);
  } catch (e) {
    if (e instanceof CannotClean || e instanceof RangeError) return []; // no items anyone could find
    throw e;
  }
  const [from, to] = [base + meta.start, base + meta.end];
  return items.flatMap((item) => item.extents.filter(([s, e]) => !(from <= s && e <= to)));
}

/** The names of an mdta keys box (each entry: size, namespace, name). */
function keyNames(data, box) {
  if (box === null || box.end - box.body < 8) return [];
  const names = [];
  let pos = box.body + 8;
  const count = Math.min(u32(data, box.body + 4), 4096);
  for (let i = 0; i < count; i++) {
    if (pos + 8 > box.end) break;
    const size = u32(data, pos);
    if (size < 8 || pos + size > box.end) break;
    names.push(new TextDecoder().decode(data.subarray(pos + 8, pos + size)));
    pos += size;
  }
  return names;
}

function freeformName(data, item) {
  const name = child(data, item.body, item.end, "name");
  return name ? text(data.subarray(name.body + 4, name.end)) : "----";
}

/** A short readable value of a metadata atom, as its kind of box stores it. */
function atomValue(data, box) {
  const body = data.subarray(box.body, box.end);
  if (body.length >= 16 && latin(body, 4, 8) === "data") {
    const size = Math.min(u32(body, 0), body.length);
    return body[11] === 0 || body[11] === 1 ? text(body.subarray(16, size)) : "";
  }
  if (box.kind === "loci") return loci(body);
  if (box.kind.startsWith("©") && body.length >= 4) return text(body.subarray(4, 4 + u16(body, 0)));
  if (ASSET_TEXT.has(box.kind) && body.length > 6) return text(body.subarray(6));
  if (box.kind === "yrrc" && body.length >= 6) return String(u16(body, 4));
  return "";
}

/** A 3GPP location: language, name, role, then longitude, latitude, altitude in 16.16 fixed point. */
function loci(body) {
  const end = stringEnd(body, 6);
  if (end + 10 > body.length) return text(body.subarray(6));
  const lon = dv(body).getInt32(end + 2) / 65536;
  const lat = dv(body).getInt32(end + 6) / 65536;
  const sign = (x) => (x < 0 ? "-" : "+") + Math.abs(x).toFixed(4);
  return `${sign(lat)}${sign(lon)} ${text(body.subarray(6, end))}`.trim();
}

function stringEnd(body, start) {
  if ((body[start] === 0xfe && body[start + 1] === 0xff) || (body[start] === 0xff && body[start + 1] === 0xfe)) {
    for (let i = start + 2; i < body.length - 1; i += 2) if (body[i] === 0 && body[i + 1] === 0) return i + 1;
    return body.length;
  }
  const nul = body.indexOf(0, start);
  return nul < 0 ? body.length : nul;
}
