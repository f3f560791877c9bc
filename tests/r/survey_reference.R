# Reference numbers for marsad's survey estimator (src/survey.rs), computed with R `survey`.
#
#   Rscript tests/r/survey_reference.R sample_data/survey/enquete_migration_2024.csv \
#       tests/data/survey_reference.csv
#
# Made with R 4.2 and survey 4.1.1. The design is stratified, PSUs nested in strata, first-stage
# fpc given as the number of PSUs in the stratum's population, lonely PSU "adjust".
#
# The table is sex x motif x nationalite with totals (`_T` = all; `_U` = sex not stated). Every cell
# is a domain estimated on the WHOLE design with an indicator variable (no row is dropped), so the
# PSUs without domain rows still count in the variance, as svyby/subset do.
#
# Columns: sex,motif,nationalite,estimate,se,respondents,pct_female,pct_female_se,share,share_se
#   estimate, se   svytotal(indicator of the cell)
#   respondents    unweighted number of rows in the cell
#   pct_female     sex == _T only: 100 * svyratio(I(F & cell), I((F | M) & cell)), and its SE * 100
#                  (women among those whose sex is stated, as marsad defines the share of women)
#   share          motif != _T only: svyratio(I(cell), I(same sex & nationalite, motif _T)), and SE
# Numbers are written with sprintf("%.17g"); a field is empty when it does not apply or when the
# ratio is undefined (0/0 in a cell with no respondents). Rows are sorted by sex, motif,
# nationalite in byte order.

suppressPackageStartupMessages(library(survey))
stopifnot(packageVersion("survey") == "4.1.1")

args <- commandArgs(trailingOnly = TRUE)
if (length(args) != 2) stop("usage: Rscript survey_reference.R <survey.csv> <out.csv>")

d <- read.csv(args[1], colClasses = "character", na.strings = character(0),
              encoding = "UTF-8")
d$poids <- as.numeric(d$poids)
d$grappes_population <- as.numeric(d$grappes_population)
d$sexe[d$sexe == ""] <- "_U"

options(survey.lonely.psu = "adjust")
des <- svydesign(ids = ~grappe, strata = ~strate, weights = ~poids,
                 fpc = ~grappes_population, nest = TRUE, data = d)

motifs <- c("travail", "etudes", "famille", "regularisation", "asile", "autre")
nats <- sort(unique(d$nationalite), method = "radix")
sexes <- c("F", "M", "_U", "_T")

member <- function(col, code) if (code == "_T") rep(TRUE, nrow(d)) else d[[col]] == code
cell <- function(s, m, n) member("sexe", s) & member("motif", m) & member("nationalite", n)

fmt <- function(x) ifelse(is.finite(x), sprintf("%.17g", x), "")

ratio <- function(num, den) {
  r <- svyratio(as.numeric(num), as.numeric(den), des)
  c(coef(r), SE(r))
}

grid <- expand.grid(nationalite = c(nats, "_T"), motif = c(motifs, "_T"), sex = sexes,
                    stringsAsFactors = FALSE)
grid <- grid[, c("sex", "motif", "nationalite")]
grid <- grid[order(grid$sex, grid$motif, grid$nationalite, method = "radix"), ]
rownames(grid) <- NULL

# All totals in one call: one indicator column per cell, SE from the diagonal of the covariance.
ind <- sapply(seq_len(nrow(grid)), function(i)
  as.numeric(cell(grid$sex[i], grid$motif[i], grid$nationalite[i])))
tot <- svytotal(ind, des)
grid$estimate <- as.vector(coef(tot))
grid$se <- as.vector(SE(tot))
grid$respondents <- as.integer(colSums(ind))

grid$pct_female <- NA_real_
grid$pct_female_se <- NA_real_
grid$share <- NA_real_
grid$share_se <- NA_real_
for (i in seq_len(nrow(grid))) {
  s <- grid$sex[i]; m <- grid$motif[i]; n <- grid$nationalite[i]
  if (s == "_T") {
    r <- ratio(cell("F", m, n), cell("F", m, n) | cell("M", m, n))
    grid$pct_female[i] <- 100 * r[1]
    grid$pct_female_se[i] <- 100 * r[2]
  }
  if (m != "_T") {
    r <- ratio(cell(s, m, n), cell(s, "_T", n))
    grid$share[i] <- r[1]
    grid$share_se[i] <- r[2]
  }
}

out <- data.frame(
  sex = grid$sex, motif = grid$motif, nationalite = grid$nationalite,
  estimate = fmt(grid$estimate), se = fmt(grid$se), respondents = grid$respondents,
  pct_female = fmt(grid$pct_female), pct_female_se = fmt(grid$pct_female_se),
  share = fmt(grid$share), share_se = fmt(grid$share_se),
  stringsAsFactors = FALSE)
con <- file(args[2], open = "wb")
writeLines(paste(names(out), collapse = ","), con, sep = "\n")
writeLines(do.call(paste, c(out, sep = ",")), con, sep = "\n")
close(con)
cat(sprintf("wrote %d cells to %s\n", nrow(out), args[2]), file = stderr())
