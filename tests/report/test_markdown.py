"""The Markdown subset used for comparison.md and summary.md."""

from pss_bayes.report.markdown import markdown_html


def test_blocks_and_inline():
    html = markdown_html("# Title\n\nSome **bold** and *it* and `code`\ncontinued.\n\n- one\n- two\n\n"
                         "| a | b |\n|---|---|\n| 1 | 2 |\n\n```\nx < y\n```\n")
    assert "<h3>Title</h3>" in html
    assert "<p>Some <strong>bold</strong> and <em>it</em> and <code>code</code> continued.</p>" in html
    assert "<ul><li>one</li><li>two</li></ul>" in html
    assert "<th>a</th><th>b</th>" in html and "<td>1</td><td>2</td>" in html and "---" not in html
    assert "<pre>x &lt; y</pre>" in html


def test_markup_is_escaped():
    html = markdown_html('<script>alert(1)</script>\n- <img src="http://x">\n')
    assert "<script" not in html and "<img" not in html and "&lt;script&gt;" in html


def test_odd_lines_terminate():
    assert markdown_html("-\n*\n- \n#") is not None


def test_indented_lines_continue_a_list_item():
    html = markdown_html("- one\n  continued\n- two\nnot indented\n")
    assert "<ul><li>one continued</li><li>two</li></ul>" in html and "<p>not indented</p>" in html
