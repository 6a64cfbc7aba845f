/**
 * A thin wrapper over @huggingface/tokenizers (tokenizers.js) that behaves like transformers' fast tokenizer for the
 * things fine-tuning needs: ids with the model's special tokens, decoding, and the special-token ids.
 *
 * BOS/EOS policy (why this is not just the library's default): transformers' LlamaTokenizerFast (and CodeLlama /
 * Gemma) rebuild the tokenizer.json post-processor from `add_bos_token` / `add_eos_token` in tokenizer_config.json
 * (defaults true / false). tokenizers.js only runs the post-processor stored in tokenizer.json, so for those classes
 * we ignore it and add BOS/EOS from the config ourselves. Every other class (GPT-2, Qwen2, PreTrainedTokenizerFast
 * for Llama 3, ...) uses tokenizer.json's post-processor unchanged, as transformers 4.47 does.
 */
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';

export interface EncodeOptions {
  /** Add the model's special tokens (BOS/EOS as the model does). Default true, like transformers. */
  addSpecialTokens?: boolean;
}

export interface Tokenizer {
  encode(text: string, opts?: EncodeOptions): number[];
  /** Decodes ids to text; `skipSpecial` (default true) drops special tokens such as `<s>`. */
  decode(ids: ArrayLike<number>, skipSpecial?: boolean): string;
  /** Id of a token string (special tokens included), or undefined. */
  tokenToId(token: string): number | undefined;
  readonly bosId?: number;
  readonly eosId?: number;
  readonly padId?: number;
  readonly bosToken?: string;
  readonly eosToken?: string;
  readonly padToken?: string;
  readonly unkToken?: string;
  /** Largest token id + 1 (model vocab plus added tokens). */
  readonly vocabSize: number;
  /** Whether encode() puts BOS first by default (what the model saw in pre-training). */
  readonly addsBos: boolean;
  /** Jinja chat template from tokenizer_config.json, if the model has one. */
  readonly chatTemplate?: string;
}

/** Tokenizer classes whose transformers fast implementation rebuilds BOS/EOS handling from the config. */
const CONFIG_DRIVEN_SPECIALS = /^(Llama|CodeLlama|Gemma)Tokenizer(Fast)?$/;

type Json = Record<string, unknown>;

/**
 * @param tokenizerJson  tokenizer.json text
 * @param tokenizerConfig parsed tokenizer_config.json (optional; without it special tokens are guessed from
 *   tokenizer.json, see guessSpecialTokens)
 * @param specialTokensMap parsed special_tokens_map.json (optional; older repos keep bos/eos/pad only there)
 */
export function loadTokenizer(tokenizerJson: string, tokenizerConfig?: Json, specialTokensMap?: Json): Tokenizer {
  let json: unknown;
  try {
    json = JSON.parse(tokenizerJson);
  } catch (e) {
    throw new Error(`tokenizer.json is not valid JSON: ${(e as Error).message}`);
  }
  if (!isObject(json) || !isObject(json.model)) throw new Error('tokenizer.json has no "model" section');
  // Fields the library validates as present (null is allowed).
  for (const key of ['decoder', 'post_processor', 'pre_tokenizer', 'normalizer']) json[key] ??= null;
  json.added_tokens ??= [];
  const config: Json = { ...(specialTokensMap ?? {}), ...(tokenizerConfig ?? {}) };
  // special_tokens_map.json may list AddedToken objects; tokenizers.js compares these as strings.
  if (Array.isArray(config.additional_special_tokens)) {
    config.additional_special_tokens = config.additional_special_tokens.map(tokenContent).filter((t) => t !== undefined);
  }
  const hf = new HfTokenizer(json, config);
  return new WrappedTokenizer(hf, json, config);
}

class WrappedTokenizer implements Tokenizer {
  readonly bosId?: number;
  readonly eosId?: number;
  readonly padId?: number;
  readonly bosToken?: string;
  readonly eosToken?: string;
  readonly padToken?: string;
  readonly unkToken?: string;
  readonly vocabSize: number;
  readonly addsBos: boolean;
  readonly chatTemplate?: string;
  /** When set, BOS/EOS come from these flags instead of tokenizer.json's post-processor. */
  private readonly configSpecials?: { bos: boolean; eos: boolean };
  private readonly cleanUpSpaces: boolean;

  constructor(
    private readonly hf: HfTokenizer,
    json: Json,
    config: Json,
  ) {
    const guessed = guessSpecialTokens(json);
    this.bosToken = tokenContent(config.bos_token) ?? guessed.bos;
    this.eosToken = tokenContent(config.eos_token) ?? guessed.eos;
    this.padToken = tokenContent(config.pad_token);
    this.unkToken = tokenContent(config.unk_token);
    this.bosId = this.idOf(this.bosToken);
    this.eosId = this.idOf(this.eosToken);
    this.padId = this.idOf(this.padToken);
    this.vocabSize = maxId(hf) + 1;
    this.chatTemplate = pickChatTemplate(config.chat_template);
    // transformers ≥ 4.45 defaults clean_up_tokenization_spaces to false; tokenizers.js defaults it to true.
    this.cleanUpSpaces = config.clean_up_tokenization_spaces === true;
    if (typeof config.tokenizer_class === 'string' && CONFIG_DRIVEN_SPECIALS.test(config.tokenizer_class)) {
      this.configSpecials = {
        bos: typeof config.add_bos_token === 'boolean' ? config.add_bos_token : true,
        eos: typeof config.add_eos_token === 'boolean' ? config.add_eos_token : false,
      };
    }
    this.addsBos = this.bosId !== undefined && this.encode('a')[0] === this.bosId;
  }

  encode(text: string, opts?: EncodeOptions): number[] {
    const special = opts?.addSpecialTokens ?? true;
    if (!this.configSpecials) return this.hf.encode(text, { add_special_tokens: special }).ids;
    const ids = this.hf.encode(text, { add_special_tokens: false }).ids;
    if (!special) return ids;
    const bos = this.configSpecials.bos && this.bosId !== undefined ? [this.bosId] : [];
    const eos = this.configSpecials.eos && this.eosId !== undefined ? [this.eosId] : [];
    return [...bos, ...ids, ...eos];
  }

  decode(ids: ArrayLike<number>, skipSpecial = true): string {
    // tokenizers.js throws on an empty list; an empty decode is simply "".
    if (ids.length === 0) return '';
    return this.hf.decode(Array.from(ids), {
      skip_special_tokens: skipSpecial,
      clean_up_tokenization_spaces: this.cleanUpSpaces,
    });
  }

  tokenToId(token: string): number | undefined {
    return this.hf.token_to_id(token);
  }

  private idOf(token: string | undefined): number | undefined {
    return token === undefined ? undefined : this.hf.token_to_id(token);
  }
}

/** Config special tokens are a string, an AddedToken-like object {content}, or null. */
function tokenContent(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (isObject(value) && typeof value.content === 'string') return value.content;
  return undefined;
}

/** tokenizer_config.json holds one template string, or a list of named templates (then "default" wins). */
function pickChatTemplate(value: unknown): string | undefined {
  if (typeof value === 'string' && value.trim() !== '') return value;
  if (Array.isArray(value)) {
    const named = value.filter(
      (t): t is { name: string; template: string } =>
        isObject(t) && typeof t.name === 'string' && typeof t.template === 'string',
    );
    return (named.find((t) => t.name === 'default') ?? named[0])?.template;
  }
  return undefined;
}

const EOS_CANDIDATES = ['</s>', '<|endoftext|>', '<|end_of_text|>', '<|eot_id|>', '<|im_end|>', '<eos>'];

/**
 * Without tokenizer_config.json: BOS is the first special token the post-processor prepends; EOS is the first
 * added special token with a conventional end-of-text name. A guess, used only when the config says nothing.
 */
function guessSpecialTokens(json: Json): { bos?: string; eos?: string } {
  const added = Array.isArray(json.added_tokens) ? json.added_tokens : [];
  const specials = added.filter((t): t is { content: string } => isObject(t) && t.special === true && typeof t.content === 'string');
  const names = new Set(specials.map((t) => t.content));
  const eos = EOS_CANDIDATES.find((c) => names.has(c));
  const pp = json.post_processor;
  let bos: string | undefined;
  if (isObject(pp) && Array.isArray(pp.single)) {
    const first: unknown = pp.single[0];
    if (isObject(first) && isObject(first.SpecialToken) && typeof first.SpecialToken.id === 'string') bos = first.SpecialToken.id;
  }
  if (bos === undefined && names.has('<s>')) bos = '<s>';
  return { bos, eos };
}

function maxId(hf: HfTokenizer): number {
  let max = -1;
  for (const id of hf.get_vocab(true).values()) if (id > max) max = id;
  return max;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
