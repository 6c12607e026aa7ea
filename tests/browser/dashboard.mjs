// Headless-Chromium check of the dashboard while a real search runs.
// usage: node dashboard.mjs BASE_URL EXPERIMENT_ID OUT_DIR
// 1. The experiment page's reward chart gains points as trials complete, without a reload.
// 2. A trial page's architecture SVG has one layer node per layer and one skip edge per skip
//    connection of the stored architecture.
// Prints one JSON line with what it saw; exits non-zero with a reason on any failure.
import { chromium } from "playwright-core";

const [base, experiment, outDir] = process.argv.slice(2);
// Never hang a test run: give up after 5 minutes whatever the browser does.
setTimeout(() => { console.error("browser test: no result after 300 s"); process.exit(2); }, 300000).unref();
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
const browser = await chromium.launch({
  executablePath,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const fail = async (msg) => { console.error(`browser test: ${msg}`); await browser.close(); process.exit(1); };
const seen = {};
try {
  const page = await browser.newPage({ viewport: { width: 1100, height: 1300 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(`${base}experiments/${experiment}`);
  const points = () => page.locator("#reward-chart circle.pt").count();
  await page.waitForSelector("#reward-chart", { timeout: 10000 });
  // Let the first poll land, then remember how many finished trials the page shows.
  await page.waitForTimeout(1500);
  seen.first = await points();
  const deadline = Date.now() + 180000;
  while ((await points()) <= seen.first) {
    if (Date.now() > deadline) await fail(`the reward chart stayed at ${seen.first} points for 180 s`);
    await page.waitForTimeout(500);
  }
  seen.later = await points();
  // Wait for the search to end so the table and counts are final.
  while ((await page.locator("#status").textContent()) === "running") {
    if (Date.now() > deadline) await fail("the experiment never left status running");
    await page.waitForTimeout(500);
  }
  await page.waitForTimeout(1500);
  seen.final = await points();
  seen.completed = Number(await page.locator('[data-count="completed"]').textContent());
  seen.failed = Number(await page.locator('[data-count="failed"]').textContent());
  seen.rows = await page.locator("#top tbody tr").count();
  await page.screenshot({ path: `${outDir}/dashboard-experiment.png`, fullPage: true });
  if (errors.length) await fail(`script errors on the experiment page: ${errors.join("; ")}`);

  // The trial with the most skip connections.
  const view = await (await fetch(`${base}api/experiments/${experiment}`)).json();
  const skipsOf = (arch) => arch.layers.reduce((n, l, i) => n + l.inputs.filter((j) => j !== i - 1).length, 0);
  let best = null;
  for (const t of view.trials.filter((t) => t.status === "completed")) {
    const full = await (await fetch(`${base}api/trials/${t.id}`)).json();
    const skips = skipsOf(full.architecture);
    if (!best || skips > best.skips) best = { id: t.id, skips, layers: full.architecture.layers.length };
  }
  if (!best) await fail("no completed trial to open");
  await page.goto(`${base}trials/${best.id}`);
  seen.trial = best.id;
  seen.expected_layers = best.layers;
  seen.expected_skips = best.skips;
  seen.layer_nodes = await page.locator("#arch svg g.layer").count();
  seen.skip_edges = await page.locator("#arch svg path.edge.input.skip").count();
  seen.curve_paths = await page.locator("#accuracy-chart path.val").count();
  await page.screenshot({ path: `${outDir}/dashboard-trial.png`, fullPage: true });
  if (errors.length) await fail(`script errors on the trial page: ${errors.join("; ")}`);
  console.log(JSON.stringify(seen));
} catch (e) {
  await fail(String(e));
}
await browser.close();
