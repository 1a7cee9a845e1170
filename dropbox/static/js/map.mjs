// The map step with JavaScript (docs/maps.md): the same sheet as without it, but a tap or click places
// a pin on the page instead of sending the form, the pin can be dragged, arrow keys move it and Enter
// confirms; "Closer map" switches to a more detailed sheet of the same desk. The point travels in the
// same hidden fields as without JavaScript (map_sheet, map_x, map_y: pixels of the sheet), and
// mapWhere() turns it into the report's `where` exactly as the server does (dropbox/maps.py).
const $ = (id) => document.getElementById(id);
const PRECISION = { exact: null, "100m": 3, "1km": 2 }; // decimals kept, as the device mode
const ROUNDING_M = { exact: 0, "100m": 110, "1km": 1100 };
let data = null; // {sheets: {id: {url, bounds: [s, w, n, e], width, height, pixel_m, detail_of}}, messages}

const sheetNow = () => data.sheets[$("map_sheet").value];
const inputs = () => [...document.querySelectorAll("#map-frame .map-sheet")];

/** (lat, lon) of the centre of pixel (x, y): the same expression as maps.pixel_to_point. */
function pixelToPoint(sheet, x, y) {
  const [s, w, n, e] = sheet.bounds;
  return [n - (y + 0.5) / sheet.height * (n - s), w + (x + 0.5) / sheet.width * (e - w)];
}

/** The pixel holding (lat, lon), as maps.point_to_pixel. */
function pointToPixel(sheet, lat, lon) {
  const [s, w, n, e] = sheet.bounds;
  return [Math.floor((lon - w) / (e - w) * sheet.width), Math.floor((n - lat) / (n - s) * sheet.height)];
}

function currentPoint() {
  const x = $("map_x").value, y = $("map_y").value;
  return x === "" || y === "" ? null : [Number(x), Number(y)];
}

/** The report's `where` in map mode, rounded on this device; null when no point is marked. */
export function mapWhere(form) {
  if (!data || !sheetNow()) return null;
  const point = currentPoint();
  if (!point) return null;
  const sheet = sheetNow();
  const precision = form.get("map_precision") in PRECISION ? form.get("map_precision") : "100m";
  const decimals = PRECISION[precision];
  const round = (v) => (decimals === null ? v : Number(v.toFixed(decimals)));
  const [lat, lon] = pixelToPoint(sheet, ...point);
  return { mode: "map", sheet: $("map_sheet").value, lat: round(lat), lon: round(lon), precision,
           accuracy_m: Math.max(ROUNDING_M[precision], sheet.pixel_m) };
}

/** What stops a send in map mode, in the reporter's words; "" when nothing does. */
export function mapProblem(form) {
  if (form.get("where_mode") !== "map") return "";
  return mapWhere(form) ? "" : (data?.messages.required ?? "");
}

function place(x, y, announce = true) {
  const sheet = sheetNow();
  x = Math.min(sheet.width - 1, Math.max(0, Math.floor(x))); // the pixel under the point, as the server takes it
  y = Math.min(sheet.height - 1, Math.max(0, Math.floor(y)));
  $("map_x").value = x;
  $("map_y").value = y;
  const pin = $("map-pin");
  pin.className = "map-pin"; // the server's pin-x-N classes give way to exact positions
  pin.style.left = `${((x + 0.5) / sheet.width) * 100}%`;
  pin.style.top = `${((y + 0.5) / sheet.height) * 100}%`;
  pin.hidden = false;
  $("map-chosen").hidden = false;
  const radio = document.querySelector('input[name="where_mode"][value="map"]');
  if (!radio.checked) { radio.checked = true; radio.dispatchEvent(new Event("change", { bubbles: true })); }
  if (announce) {
    const [lat, lon] = pixelToPoint(sheet, x, y);
    $("map-marked").textContent = `${data.messages.marked} ${lat.toFixed(5)}, ${lon.toFixed(5)}`;
  }
  updateZoom();
}

/** Sheet pixels under a pointer event on the picture shown. */
function pixelsAt(event, element) {
  const box = element.getBoundingClientRect();
  const sheet = sheetNow();
  return [(event.clientX - box.left) * sheet.width / box.width, (event.clientY - box.top) * sheet.height / box.height];
}

const shownInput = () => inputs().find((input) => input.offsetWidth > 0) ?? inputs()[0];

function showSheet(id) {
  const before = sheetNow();
  const point = currentPoint();
  const latLon = point && pixelToPoint(before, ...point);
  $("map_sheet").value = id;
  const sheet = sheetNow();
  for (const input of inputs()) {
    input.src = sheet.url;
    input.height = Math.round(sheet.height * input.width / sheet.width);
  }
  if (latLon) {
    const [x, y] = pointToPixel(sheet, ...latLon);
    const inside = x >= 0 && y >= 0 && x < sheet.width && y < sheet.height;
    if (inside) place(x, y, false);
    else place(sheet.width / 2, sheet.height / 2);
  }
  updateZoom();
}

/** A closer sheet of the one shown (the one holding the pin, if any), or null. */
function closer() {
  const here = $("map_sheet").value;
  const point = currentPoint();
  const latLon = point && pixelToPoint(sheetNow(), ...point);
  const details = Object.entries(data.sheets).filter(([, s]) => s.detail_of === here);
  const holding = latLon && details.find(([, s]) => {
    const [south, west, north, east] = s.bounds;
    return latLon[0] >= south && latLon[0] <= north && latLon[1] >= west && latLon[1] <= east;
  });
  return (holding || details[0] || [null])[0];
}

function updateZoom() {
  const near = closer();
  const wider = sheetNow().detail_of;
  $("map-zoom").hidden = !near && !wider;
  $("map-closer").hidden = !near;
  $("map-wider").hidden = !wider;
}

function onKey(event) {
  const sheet = sheetNow();
  const step = Math.max(1, Math.round(sheet.width / (event.shiftKey ? 20 : 100)));
  const moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
  if (event.key in moves) {
    event.preventDefault(); // the page does not scroll, the pin moves
    const [x, y] = currentPoint() ?? [sheet.width / 2, sheet.height / 2];
    place(x + moves[event.key][0], y + moves[event.key][1]);
  } else if (event.key === "Enter") {
    event.preventDefault(); // confirms the place; it does not send the form
    const [x, y] = currentPoint() ?? [sheet.width / 2, sheet.height / 2];
    place(x, y);
    $("map-marked").textContent = data.messages.confirmed;
  }
}

function setUpDrag(pin) {
  let dragging = false;
  pin.addEventListener("pointerdown", (event) => {
    dragging = true;
    pin.setPointerCapture(event.pointerId);
    event.preventDefault();
  });
  pin.addEventListener("pointermove", (event) => {
    if (dragging) place(...pixelsAt(event, shownInput()), false);
  });
  const stop = () => {
    if (!dragging) return;
    dragging = false;
    place(Number($("map_x").value), Number($("map_y").value));
  };
  pin.addEventListener("pointerup", stop);
  pin.addEventListener("pointercancel", stop);
}

/** Take over the map step, if the page has one. */
export function setUpMap() {
  const found = $("map-data");
  if (!found || !$("map-frame")) return;
  data = JSON.parse(found.textContent);
  $("map-frame").classList.add("map-js");
  $("map-hint").append(` ${data.messages.keys}`);
  for (const input of inputs()) {
    input.addEventListener("click", (event) => {
      event.preventDefault(); // no round trip: the pin is placed here
      if (event.detail === 0) { // a click from the keyboard (Space): a pin in the middle if none yet
        if (!currentPoint()) place(sheetNow().width / 2, sheetNow().height / 2);
        return;
      }
      place(...pixelsAt(event, input));
    });
    input.addEventListener("keydown", onKey);
  }
  setUpDrag($("map-pin"));
  $("map-closer").addEventListener("click", (event) => { // here, not in a round trip to the server
    event.preventDefault();
    const id = closer();
    if (id) showSheet(id);
  });
  $("map-wider").addEventListener("click", (event) => {
    event.preventDefault();
    const up = sheetNow().detail_of;
    if (up) showSheet(up);
  });
  $("map-again").addEventListener("click", (event) => { // "choose again" without a round trip
    event.preventDefault();
    $("map_x").value = $("map_y").value = "";
    $("map-pin").hidden = true;
    $("map-chosen").hidden = true;
    $("map-marked").textContent = "";
    shownInput().focus();
  });
  updateZoom();
}
