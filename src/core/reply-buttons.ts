/** The buttons the core puts under its replies, labelled in the reader's language. */
import { encodeButton, jobKeyOf } from './buttons.js';
import type { ReplyButton } from './chat-types.js';
import type { Language } from './intents.js';
import { t } from './messages.js';

/** Under a queued job's status message. */
export function cancelButton(lang: Language, jobKey: string): ReplyButton {
  return { label: t(lang, 'button.cancel'), data: encodeButton({ action: 'cancel', jobKey }) };
}

/** Under a describe result: "Imagine this" for each description (its text stays server-side). */
export function describeButtons(lang: Language, jobId: string, count: number): ReplyButton[] {
  const jobKey = jobKeyOf(jobId);
  return Array.from({ length: Math.min(count, 4) }, (_, i) => ({
    label: t(lang, 'button.imagine_this', { n: i + 1 }),
    data: encodeButton({ action: 'imagine_this', jobKey, index: i }),
  }));
}

/** Under a finished result: one reroll, a variation and an upscale per image, and delete. */
export function resultButtons(lang: Language, jobId: string, images: number): ReplyButton[] {
  const jobKey = jobKeyOf(jobId);
  const out: ReplyButton[] = [
    { label: t(lang, 'button.reroll'), data: encodeButton({ action: 'reroll', jobKey }) },
  ];
  for (let i = 0; i < images; i++) {
    out.push({
      label: t(lang, 'button.variation', { n: i + 1 }),
      data: encodeButton({ action: 'variation', jobKey, index: i }),
    });
    out.push({
      label: t(lang, 'button.upscale', { n: i + 1 }),
      data: encodeButton({ action: 'upscale', jobKey, index: i }),
    });
  }
  out.push({ label: t(lang, 'button.delete'), data: encodeButton({ action: 'delete', jobKey }) });
  return out;
}
