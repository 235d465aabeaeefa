// Drives the remote control's page (`marquee run --serve`) in headless Chromium: the page loads,
// the preview moves, "next" switches the playlist entry (the status says so and the preview
// changes), an entry's button goes to it, a layer's slider (a form made from its plugin's schema)
// changes the running layer, the brightness slider darkens the preview, "pause" pauses, and a
// screenshot is saved.
//
//   node tests/browser/page.mjs http://127.0.0.1:PORT/ SCREENSHOT.png
//
// Exits 0 when every check holds; otherwise prints what failed and exits 1.
import { chromium } from "playwright-core";

const [url, screenshot] = process.argv.slice(2);
const fail = (message) => {
  console.error(`browser test failed: ${message}`);
  process.exit(1);
};
if (!url || !screenshot) fail("usage: page.mjs URL SCREENSHOT");

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  headless: true,
  // Root in CI: Chromium's sandbox needs user namespaces it may not have.
  args: ["--no-sandbox"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1100, height: 700 } });
  page.setDefaultTimeout(15000);
  await page.goto(url);
  const field = (name) => page.locator(`dd[data-field="${name}"]`).textContent();
  // The status arrives: a show and scene in the title, frames counting.
  await page.waitForFunction(() => document.getElementById("title").textContent.includes(":"));
  await page.waitForFunction(() => Number(document.querySelector('dd[data-field="frame"]')?.textContent) > 0);
  // The preview shows frames and moves: its pixels, drawn into a canvas, change.
  await page.waitForFunction(() => document.getElementById("preview").naturalWidth > 0);
  // The preview's pixels as the page shows them: drawn into a canvas and read back.
  const picture = () =>
    page.evaluate(() => {
      const img = document.getElementById("preview");
      const canvas = document.createElement("canvas");
      canvas.width = img.naturalWidth;
      canvas.height = img.naturalHeight;
      const ctx = canvas.getContext("2d");
      ctx.drawImage(img, 0, 0);
      return { width: canvas.width, height: canvas.height, data: Array.from(ctx.getImageData(0, 0, canvas.width, canvas.height).data) };
    });
  const sample = async () => {
    const { width, height, data } = await picture();
    let hash = 0;
    for (const byte of data) hash = (hash * 31 + byte) >>> 0;
    return { hash, width, height };
  };
  const isDark = async () => (await picture()).data.every((byte, i) => i % 4 === 3 || byte === 0);
  const first = await sample();
  if (first.width !== 256 || first.height !== 64) fail(`the preview is ${first.width}×${first.height}, not 256×64`);
  let moved = false;
  for (let i = 0; i < 30 && !moved; i += 1) {
    await page.waitForTimeout(200);
    moved = (await sample()).hash !== first.hash;
  }
  if (!moved) fail("the preview did not change in 6 seconds");
  // "next" switches the entry: the status says so, and the preview shows the other scene.
  const entry = await field("entry");
  const title = await page.locator("#title").textContent();
  const before = await sample();
  await page.click('button[data-command="next"]');
  await page.waitForFunction(
    (old) => document.querySelector('dd[data-field="entry"]')?.textContent !== old,
    entry,
  );
  await page.waitForFunction((old) => document.getElementById("title").textContent !== old, title);
  const after_next = await field("entry");
  const title_next = await page.locator("#title").textContent();
  let changed = false;
  for (let i = 0; i < 30 && !changed; i += 1) {
    await page.waitForTimeout(200);
    changed = (await sample()).hash !== before.hash;
  }
  if (!changed) fail("the preview did not change after next");
  // A playlist entry's button goes straight to it.
  await page.click('#entries button[data-entry="0"]');
  await page.waitForFunction(() => document.querySelector('dd[data-field="entry"]')?.textContent === "0");
  // A layer's form, made from its plugin's schema: its slider changes the running layer.
  const slider = page.locator('fieldset[data-layer="fractal"] input[data-field="zoom_speed"]');
  await slider.waitFor();
  if ((await slider.getAttribute("type")) !== "range") fail("zoom_speed (0 to 20) is not a slider");
  await slider.evaluate((input) => {
    input.value = "0";
    input.dispatchEvent(new Event("change"));
  });
  let applied = false;
  for (let i = 0; i < 30 && !applied; i += 1) {
    await page.waitForTimeout(100);
    applied = await page.evaluate(async () => {
      const token = new URLSearchParams(location.search).get("token");
      const answer = await fetch(token ? `/api/layers?token=${token}` : "/api/layers");
      const fractal = (await answer.json()).find((l) => l.id === "fractal");
      return fractal.config.zoom_speed === 0;
    });
  }
  if (!applied) fail("the zoom_speed slider did not change the layer");
  if ((await page.locator("#error").textContent()) !== "") fail(await page.locator("#error").textContent());
  // The brightness slider dims what the outputs show: the preview goes dark.
  const slide = (value) =>
    page.evaluate((v) => {
      const slider = document.getElementById("brightness");
      slider.value = v;
      slider.dispatchEvent(new Event("change"));
    }, value);
  await slide("0");
  await page.waitForFunction(() => document.querySelector('dd[data-field="brightness"]')?.textContent === "0 %");
  let dark = false;
  for (let i = 0; i < 30 && !dark; i += 1) {
    await page.waitForTimeout(200);
    dark = await isDark();
  }
  if (!dark) fail("the preview did not go dark at brightness 0");
  await slide("1");
  await page.waitForFunction(() => document.querySelector('dd[data-field="brightness"]')?.textContent === "100 %");
  // "pause" stops the frame count.
  await page.click('button[data-command="pause"]');
  await page.waitForFunction(() => document.querySelector('dd[data-field="state"]')?.textContent === "paused");
  await page.screenshot({ path: screenshot, fullPage: true });
  console.log(
    JSON.stringify({ entry_before: entry, entry_after_next: after_next, title_before: title, title_after_next: title_next }),
  );
} catch (e) {
  fail(String(e));
} finally {
  await browser.close();
}
