"""The Chinese-text basics every layer shares (qa/text.py)."""

from qa.text import has_cjk, is_cjk, normalise, sentence_spans, years


def test_normalise_ignores_spaces_punctuation_and_case():
    assert normalise("其中 ,我市签约1个项目， 总投资 76.8亿元 ABC") == "其中我市签约1个项目总投资76.8亿元abc"


def test_normalise_ignores_width_case_spaces_and_brackets():
    assert normalise("７３４０.９万 人次") == normalise("7340.9万人次")
    assert normalise("《满江红》") == normalise("满江红")
    assert normalise("Gen2") == normalise("gen 2")


def test_normalise_keeps_the_middle_dot_of_foreign_names():
    assert normalise("埃隆·马斯克") == "埃隆·马斯克"


def test_sentences_end_at_terminators_and_keep_their_closing_quote():
    text = "他说：“明天开会。”大家同意！会后……散会\n下一段"
    sentences = [text[s:e] for s, e in sentence_spans(text)]
    assert sentences == ["他说：“明天开会。”", "大家同意！", "会后……", "散会", "下一段"]


def test_sentence_spans_are_trimmed_offsets_into_the_text():
    text = "  第一句。 \n\n  第二句；第三句"
    spans = sentence_spans(text)
    assert [text[s:e] for s, e in spans] == ["第一句。", "第二句；", "第三句"]
    assert all(not text[s].isspace() and not text[e - 1].isspace() for s, e in spans)


def test_blank_text_has_no_sentences():
    assert sentence_spans("") == []
    assert sentence_spans(" \n \n") == []


def test_years_are_four_digit_years_written_with_nian():
    assert years("2019年和 2022 年的数据，不是第1998号") == {"2019", "2022"}


def test_cjk_class_covers_extension_a_and_compatibility_ideographs():
    assert has_cjk("abc许") and not has_cjk("abc 123")
    assert is_cjk("\u3400") and is_cjk("\uf900") and not is_cjk("a")


def test_exact_match_ignores_punctuation_spaces_and_case_like_cmrc_2018():
    from qa.text import exact_match

    assert exact_match("“柏启传”。", ["柏启传"]) == 1.0
    assert exact_match("副市长柏启传", ["柏启传"]) == 0.0
    assert exact_match("", ["柏启传"]) == 0.0


def test_char_f1_counts_the_longest_common_substring_against_the_best_answer():
    from qa.text import char_f1

    assert char_f1("副市长柏启传", ["柏启传"]) == 2 * (3 / 6) * 1.0 / (3 / 6 + 1.0)
    assert char_f1("柏启传", ["王磊", "柏启传"]) == 1.0
    assert char_f1("王磊", ["柏启传"]) == 0.0
