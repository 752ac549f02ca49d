// Opens a notebook in a running JupyterLab with headless Chromium, runs all its cells with the
// notebook's kernel (tuna), waits until the outputs hold a rendered plot (SVG) and a progress
// display, and takes a screenshot. Prints one JSON line with what it saw.
//
//   node run_notebook.mjs URL_OF_NOTEBOOK SCREENSHOT.png [TIMEOUT_SECONDS]
import { chromium } from "playwright-core";

const [url, shot, timeoutArg] = process.argv.slice(2);
const timeout = Number(timeoutArg || 600) * 1000;
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", args: ["--no-sandbox"] });
const result = { svg: false, progress: false, kernel: "", errors: [] };
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  await page.goto(url, { timeout });
  await page.waitForSelector(".jp-Notebook .jp-Cell", { timeout });
  // The kernel indicator names the kernel once it is connected and idle.
  await page.waitForFunction(() => {
    const s = document.querySelector(".jp-Notebook-ExecutionIndicator, .jp-KernelStatus");
    return s && /idle|Idle|Rust/i.test(s.getAttribute("title") || s.textContent || "");
  }, null, { timeout }).catch(() => {});
  result.kernel = await page.evaluate(() => document.querySelector(".jp-KernelName, .jp-Toolbar-kernelName")?.textContent?.trim() || "");
  // Run > Run All Cells.
  await page.click("text=Run", { timeout: 30000 });
  await page.click("text=Run All Cells", { timeout: 30000 });
  // The plot cell renders an SVG image; the progress loop renders an HTML bar with a percentage.
  await page.waitForSelector(".jp-RenderedSVG img, .jp-RenderedSVG svg, .jp-RenderedImage img[src^='data:image/svg']", { timeout });
  result.svg = true;
  await page.waitForFunction(() => [...document.querySelectorAll(".jp-RenderedHTMLCommon")].some(e => /\d+%/.test(e.textContent)), null, { timeout });
  result.progress = true;
  // Until every code cell has an execution count (the whole notebook ran).
  await page.waitForFunction(() => {
    const prompts = [...document.querySelectorAll(".jp-CodeCell .jp-InputPrompt")];
    return prompts.length > 0 && prompts.every(p => /\[\d+\]/.test(p.textContent));
  }, null, { timeout });
  result.errors = await page.evaluate(() => [...document.querySelectorAll(".jp-RenderedText[data-mime-type='application/vnd.jupyter.stderr']")].map(e => e.textContent.slice(0, 300)).filter(t => /error/i.test(t)));
  // Scroll the progress display into view beside the plot and photograph the page.
  await page.evaluate(() => [...document.querySelectorAll(".jp-RenderedHTMLCommon")].find(e => /\d+%/.test(e.textContent))?.scrollIntoView({ block: "center" }));
  await page.screenshot({ path: shot, fullPage: false });
} catch (e) {
  result.errors.push(String(e).slice(0, 500));
} finally {
  await browser.close();
  console.log(JSON.stringify(result));
}
