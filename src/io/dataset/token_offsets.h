// Which bytes of a text each token stands for: the token -> byte-offset map loss masks are built from
// (mc's Tokenizer produces ids only). We match the tokens' own bytes (ModelTokenizerBundle::token_bytes)
// against the text left to right, the way `tokenizers` offsets follow the text:
//   - ByteLevel and plain pieces must equal the next bytes of the text;
//   - SentencePiece (Metaspace) pieces: U+2581 matches a space or a literal U+2581, and as the first
//     character of the first token of a segment (the text start, or right after an added token) it may
//     also match nothing (the prepended U+2581); <0xNN> byte-fallback pieces match one byte;
//   - added tokens match their content; lstrip/rstrip ones also take the whitespace around them;
//   - the unknown token takes the characters up to where the next token matches.
// NFC/NFKC normalizers are followed by matching against the normalized text and mapping offsets back
// through normalization clusters (a starter and its combining marks, merged with the next cluster when
// they compose): a token that covers part of a cluster gets the whole cluster. Other normalizers that
// change the text (Lowercase, NFD, Strip, ...) are an error here; text records do not need offsets.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "io/dataset/model_tokenizer.h"

namespace mc {

/// Bytes [begin, end) of the text; begin == end for a token that covers no text (a prepended U+2581).
struct TokenSpan {
  size_t begin = 0;
  size_t end = 0;
};

/// Byte range in `text` of each token of `ids`, which must be bundle.tokenizer().encode(text, false).
/// Throws mc::Error("dataset", "<where>: ...") when the tokens cannot be matched with the text.
std::vector<TokenSpan> token_offsets(const ModelTokenizerBundle& bundle, std::string_view text,
                                     std::span<const int32_t> ids, const std::string& where);

}  // namespace mc
