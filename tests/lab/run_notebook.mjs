// Opens a notebook in a running JupyterLab with headless Chromium, runs all its cells with the
// notebook's kernel (tuna), waits until the outputs hold a rendered plot (SVG) and a progress
// display (an HTML <progress> bar), and takes a screenshot. Prints one JSON line with what it saw.
//
//   node run_notebook.mjs URL_OF_NOTEBOOK SCREENSHOT.png [TIMEOUT_SECONDS]
import { chromium } from "playwright-core";

const [url, shot, timeoutArg] = process.argv.slice(2);
const timeout = Number(timeoutArg || 600) * 1000;
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", args: ["--no-sandbox"] });
const result = { svg: false, progress: false, kernel: "", errors: [] };
const started = Date.now();
const log = (what) => console.error(`${((Date.now() - started) / 1000).toFixed(1)} s: ${what}`);
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1500 } });
  await page.goto(url, { timeout });
  await page.waitForSelector(".jp-Notebook .jp-Cell", { timeout });
  log("notebook open");
  // The kernel indicator names the kernel once it is connected and idle.
  await page.waitForFunction(() => {
    const s = document.querySelector(".jp-Notebook-ExecutionIndicator, .jp-KernelStatus");
    return s && /idle|Idle|Rust/i.test(s.getAttribute("title") || s.textContent || "");
  }, null, { timeout }).catch(() => {});
  result.kernel = await page.evaluate(() => document.querySelector(".jp-KernelName, .jp-Toolbar-kernelName")?.textContent?.trim() || "");
  // Run All Cells through JupyterLab's command registry (the server exposes the app with
  // --LabApp.expose_app_in_browser), once the notebook's session and kernel are up.
  await page.waitForFunction(() => window.jupyterapp?.shell?.currentWidget?.sessionContext?.session?.kernel, null, { timeout });
  log("kernel connected");
  await page.evaluate(() => window.jupyterapp.commands.execute("notebook:run-all-cells"));
  log("run all cells");
  // The plot cell renders an SVG image; the progress loop renders an HTML bar with a percentage.
  await page.waitForSelector(".jp-RenderedSVG img, .jp-RenderedSVG svg, .jp-RenderedImage img[src^='data:image/svg']", { timeout });
  result.svg = true;
  log("svg shown");
  // tuna's progress display: an HTML <progress> bar with "done/total [elapsed, rate]".
  const progressShown = () => [...document.querySelectorAll(".jp-RenderedHTMLCommon")].find(e => e.querySelector("progress") || /\d+\/\d+ \[/.test(e.textContent));
  await page.waitForFunction(progressShown, null, { timeout });
  result.progress = true;
  log("progress shown");
  // Until every code cell has an execution count (the whole notebook ran).
  await page.waitForFunction(() => {
    const prompts = [...document.querySelectorAll(".jp-CodeCell .jp-InputPrompt")];
    return prompts.length > 0 && prompts.every(p => /\[\d+\]/.test(p.textContent));
  }, null, { timeout });
  result.errors = await page.evaluate(() => [...document.querySelectorAll(".jp-RenderedText[data-mime-type='application/vnd.jupyter.stderr']")].map(e => e.textContent.slice(0, 300)).filter(t => /error/i.test(t)));
  // The plot at the top of the view, the progress display below it, then the photograph.
  await page.evaluate(() => document.querySelector(".jp-RenderedSVG, .jp-RenderedImage")?.scrollIntoView({ block: "start" }));
  // Dismiss JupyterLab's "get notified about news?" toast if it is there.
  await page.click(".jp-toast-button >> text=No", { timeout: 2000 }).catch(() => {});
  await page.waitForTimeout(800);
  await page.screenshot({ path: shot, fullPage: false });
} catch (e) {
  result.errors.push(String(e).slice(0, 500));
} finally {
  await browser.close();
  console.log(JSON.stringify(result));
}
