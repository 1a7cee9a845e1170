// What a Matroska file's metadata said (clean/matroska.mjs voids it), as metadata/_matroska_tags.py
// says it: element values as the officer reads them, Tags and Chapters' titles, as findings.
import { finding } from "./source.mjs";
import { children } from "./_ebml.mjs";

const [TAG, SIMPLE_TAG, TAG_NAME, TAG_STRING, TAG_BINARY] = [0x7373, 0x67c8, 0x45a3, 0x4487, 0x4485];
const CHAPTER_MASTERS = new Set([0x45b9, 0xb6, 0x80, 0x4520]); // EditionEntry, ChapterAtom, ChapterDisplay, EditionDisplay
const CHAPTER_STRINGS = new Set([0x85, 0x4521]); // ChapString, EditionString
const EPOCH_MS = Date.UTC(2001, 0, 1); // Matroska dates count nanoseconds from here
const PLACE = /[+-]\d{1,2}\.\d+[+-]\d{1,3}\.\d+|-?\d{1,2}\.\d{3,}, ?-?\d{1,3}\.\d{3,}/; // ISO 6709, "lat, lon"
const PLACE_NAMES = /LOCAT|GPS|GEO|ISO6709|LATITUDE|LONGITUDE|COORDINATE/;
const PERSON_NAMES = new RegExp(
  "ARTIST|PERFORMER|COMPOSER|ARRANGER|LYRICIST|CONDUCTOR|DIRECTOR|ENGINEER|DESIGNER|ACTOR|CHARACTER" +
    "|WRITTEN|_BY$|PRODUCER|PUBLISHER|LABEL|COPYRIGHT|AUTHOR|OWNER|EMAIL|THANKS|STUDIO|ACCOMPANIMENT",
);
const TIME_NAMES = /DATE|(^|[_.])TIME($|[_.])|TIMESTAMP|^YEAR$/; // not QUICKTIME
const DEVICE_NAMES = /MAKE|MODEL|DEVICE|SERIAL|VENDOR|CAMERA|LENS/;
const SOFTWARE_NAMES = /ENCODER|APP|SOFTWARE|HANDLER|TOOL/;
const OTHER_NAMES = /^(DURATION|BPS|NUMBER_OF_|_STATISTICS)/;
const NAME_BYTE = /[A-Za-z0-9_.-]/;

function stripNuls(bytes) {
  let [lo, hi] = [0, bytes.length];
  while (lo < hi && bytes[lo] === 0) lo++;
  while (hi > lo && bytes[hi - 1] === 0) hi--;
  return bytes.subarray(lo, hi);
}

/** An element's value as the officer reads it; "" when there is nothing (empty, or all NULs). */
export function value(raw, how) {
  const stripped = stripNuls(raw);
  if (stripped.length === 0) return "";
  if (how === "date" && raw.length === 8) {
    const ns = new DataView(raw.buffer, raw.byteOffset).getBigInt64(0);
    let seconds = ns / 1000000000n;
    if (ns % 1000000000n < 0n) seconds -= 1n; // floor, as Python's //
    return new Date(EPOCH_MS + Number(seconds) * 1000).toISOString().slice(0, 19).replace("T", " ");
  }
  if (how === "text") return new TextDecoder().decode(stripped.subarray(0, 256));
  return [...raw.subarray(0, 32)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** What a tag is about, by its name, or by its value when the name says nothing. */
export function tagKind(name, val) {
  name = name.toUpperCase();
  if (PLACE_NAMES.test(name)) return "place";
  if (TIME_NAMES.test(name)) return "time";
  for (const [kind, names] of [["person", PERSON_NAMES], ["device", DEVICE_NAMES], ["software", SOFTWARE_NAMES]]) {
    if (names.test(name)) return kind;
  }
  if (OTHER_NAMES.test(name)) return "other";
  return PLACE.test(val) ? "place" : "text";
}

/** A tag's name as a finding's place: ASCII letters, digits and _.- kept, any other byte "_". */
export function whereName(raw) {
  const name = [...stripNuls(raw).subarray(0, 40)].map((b) => (NAME_BYTE.test(String.fromCharCode(b)) ? String.fromCharCode(b) : "_")).join("");
  return name || "?";
}

export function tagFindings(data) {
  const found = [];
  for (const [id, , body, end] of children(data, 0, data.length)) {
    if (id !== TAG) continue;
    for (const [childId, , childBody, childEnd] of children(data, body, end)) {
      if (childId === SIMPLE_TAG) simpleTag(data, childBody, childEnd, found);
    }
  }
  return found;
}

function simpleTag(data, lo, hi, found) {
  let [name, val] = ["?", ""];
  for (const [id, , body, end] of children(data, lo, hi)) {
    if (id === TAG_NAME) name = whereName(data.subarray(body, end));
    else if (id === TAG_STRING) val = value(data.subarray(body, end), "text");
    else if (id === TAG_BINARY && end > body) val = `${end - body} bytes`;
    else if (id === SIMPLE_TAG) simpleTag(data, body, end, found);
  }
  if (val) found.push(finding(tagKind(name, val), `Tags/${name}`, val));
}

export function chapterFindings(data) {
  const strings = [];
  const walk = (lo, hi) => {
    for (const [id, , body, end] of children(data, lo, hi)) {
      if (CHAPTER_MASTERS.has(id)) walk(body, end);
      else if (CHAPTER_STRINGS.has(id) && value(data.subarray(body, end), "text")) strings.push(value(data.subarray(body, end), "text"));
    }
  };
  walk(0, data.length);
  return [finding("text", "Chapters", strings.join("; "))];
}
