# marsad's report messages, English. Every id here exists in fr.ftl and ar.ftl with the same
# arguments (a unit test checks it). Counts are passed as numbers, so plurals follow CLDR.

rows = { $count ->
    [one] { $count } row
   *[other] { $count } rows
}
cells = { $count ->
    [one] { $count } cell
   *[other] { $count } cells
}

## Shared words
sex-F = Women
sex-M = Men
sex-U = Unknown sex
sex-T = Total
age-unknown = Age not stated
age-open = { $low }+
total = Total
confidential = c
confidential-legend = c: confidential, hidden so that no small count about real people can be worked out
made-by = Made by marsad { $version } from the pipeline { $pipeline }, run { $run }, on { $date }.
contents = Contents

## The publication
pub-subtitle = Statistics by sex, with unknown sex shown apart
pub-dimensions = By { $dimensions }.
pub-other-at = Other dimensions: { $where }.
chart-pyramid = Population pyramid by sex and age group
chart-bars = { $dimension }: the { $count } largest groups, by sex
chart-line = By sex, over { $dimension }
share-women = share of women
pub-no-chart = This table has no sex dimension to draw.
pub-quality = Quality notes
pub-disclosure = { $hidden } of { $cells } cells are hidden (“c”); they hold { $share } of the table's total. Every count below the threshold is hidden, and enough others that no one holding every published table can work it out.
pub-disclosure-none = No cell is hidden in this table.
pub-disclosure-off = Published without disclosure control: { $reason }.
pub-rounded = Counts are randomly rounded to multiples of { $base }; totals are rounded on their own, so they may differ from the sum of their parts.
pub-survey = Estimates from a sample survey. Flag E (use with caution, large sampling error): { $flagged }; F (too unreliable to publish, left empty): { $suppressed }.
pub-filter = Rows counted: { $filter }
pub-revised = Since the previous release (run { $run }): { $revised } cells revised, { $added } added, { $removed } removed, { $suppressed } newly hidden.
pub-sources = Sources and provenance
pub-source = Source { $source }: { $files } read, { $valid } of { $read } records kept after validation; { $rejected } set apart with their reasons.
pub-files = { $count ->
    [one] { $count } file
   *[other] { $count } files
}
pub-file = { $file } ({ $rows }, SHA-256 { $sha })
pub-unknown-sex = Records of unknown sex are counted and shown apart; they are never dropped.

## Feedback to the data provider
fb-title = Checking { $name }
fb-restricted = This report shows values from the file: keep it within the services that may see them.
fb-accepted-all = The file is accepted: all its rows are valid ({ $total }).
fb-accepted-some = The file is accepted. Valid rows: { $valid } of { $total }; rows set apart: { $rejected }. The rows below show why, so that the next file can be corrected.
fb-refused = The file is not accepted. Rows that break the rules: { $rejected } of { $total } ({ $share }), more than the { $max } allowed. Correct the rows below and send the file again.
fb-refused-any = The file is not accepted. Rows that break the rules: { $rejected } of { $total }. Correct the rows below and send the file again.
fb-summary = Summary by rule and column
fb-rule = Rule
fb-column = Column
fb-rows = Rows
fb-line = Line
fb-cell = Cell
fb-value = Value in the file
fb-problem = Problem
fb-examples = Rule “{ $rule }”: the first rows that break it
fb-more = …and { $count } more.
fb-unmapped = Values not found in a code list
fb-unmapped-row = “{ $value }” in column { $column } ({ $rows }) is not in the list { $codelist }.
fb-suggestions = Closest known spellings: { $spellings }.
fb-no-suggestion = No known spelling is close: add it to the list or correct it.
fb-todo = What to do
fb-empty = (empty)
fb-whole-row = whole row

## What to do, by rule
todo-missing-cell = The row has fewer fields than the header: a separator is missing or the row was cut. Give every row as many fields as the header.
todo-extra-cell = The row has more fields than the header: a value holds the separator without quotes. Put such values between double quotes.
todo-blank-row = The line is empty. Remove empty lines, or fill them.
todo-unterminated-quote = A double quote opens a value and is never closed, so the following lines were read into it. Close the quote or remove it.
todo-type = The value is not of the column's type (a number, a date in the agreed format…). Write it as the schema says.
todo-required = The column must have a value. Fill it in, or use the agreed code for “not stated”.
todo-minimum = The value is below the smallest allowed. Check it against the source record.
todo-maximum = The value is above the largest allowed. Check it against the source record.
todo-minLength = The value is shorter than allowed. Check it against the source record.
todo-maxLength = The value is longer than allowed. Check it against the source record.
todo-pattern = The value is not written in the agreed form. Write it as the schema's pattern says.
todo-enum = The value is not one of the allowed values. Use one of the codes the schema lists.
todo-unique = The value appears on more than one row, and must be unique. Remove the duplicate or correct the identifier.
todo-primaryKey = Two rows have the same identifier. Remove the duplicate or correct the identifier.
todo-foreignKey = The value refers to an entry that does not exist in the referenced table. Correct it or add the entry.
todo-finite = The number is not a finite number (NaN or infinity). Write the real value, or leave it empty.
todo-check = The row breaks a rule of the pipeline: { $message }. Check the row against the source record.
todo-codelist = The value is not a known spelling of any code. Use one of the closest spellings shown, or ask for it to be added to the list.
