# Reference values for the ebmt4 tests (tests/evaluation/test_evaluation_competing_ebmt4.py).
# ebmt4.csv: mstate's `ebmt4` data set (EBMT; 2279 patients transplanted 1985-1998; "simplified
# for the purpose of illustration ... no clinical conclusions should be drawn", mstate's help
# page), columns id, rel, rel.s, srv, srv.s, year, agecl, proph, match as in mstate, exported
# from the Rdatasets copy of mstate's data (mstate itself is not packaged for Debian bookworm).
# Competing risks: relapse (cause 1) vs death without relapse (cause 2), time in days.
# Run with R 4.2.2, survival 3.5-3, cmprsk 2.2-11 (Debian bookworm r-cran-survival,
# r-cran-cmprsk):  Rscript ebmt4_reference.R   (writes ebmt4_*.csv here)
library(survival); library(cmprsk)
options(digits=12)
print(packageVersion("survival")); print(packageVersion("cmprsk"))
d <- read.csv("ebmt4.csv", check.names=FALSE)
d$time <- d$rel                                   # rel == srv when there is no relapse
d$code <- ifelse(d[["rel.s"]] == 1, 1, 2 * d[["srv.s"]])
stopifnot(all(d$rel <= d$srv), all(d$rel[d[["rel.s"]] == 0] == d$srv[d[["rel.s"]] == 0]))
d$event <- factor(d$code, 0:2, labels=c("censor", "relapse", "death"))
print(table(d$event))
d$year <- factor(d$year, c("1985-1989", "1990-1994", "1995-1998"))
d$agecl <- factor(d$agecl, c("<=20", "20-40", ">40"))
d$proph <- factor(d$proph, c("no", "yes"))
d$match <- factor(d$match, c("no gender mismatch", "gender mismatch"))
times <- c(365, 730, 1826)
# Aalen-Johansen, overall and by year of transplantation
aj <- function(fit, group) {
  s <- summary(fit, times=times)
  data.frame(group=group, time=s$time, n.risk=s$n.risk[, 1], relapse=s$pstate[, 2],
             death=s$pstate[, 3], se_relapse=s$std.err[, 2], se_death=s$std.err[, 3],
             lo_relapse=s$lower[, 2], hi_relapse=s$upper[, 2])
}
out <- aj(survfit(Surv(time, event) ~ 1, data=d), "all")
for (g in levels(d$year)) out <- rbind(out, aj(survfit(Surv(time, event) ~ 1,
                                                       data=d[d$year == g, ]), g))
print(out)
write.csv(out, "ebmt4_aj.csv", row.names=FALSE)
# Gray's test between years of transplantation (and cuminc's estimates, the same AJ)
ci <- cuminc(d$time, d$code, group=d$year, cencode=0)
print(ci$Tests); print(timepoints(ci, times))
write.csv(data.frame(cause=rownames(ci$Tests), stat=ci$Tests[, 1], pv=ci$Tests[, 2],
                     df=ci$Tests[, 3]), "ebmt4_gray_year.csv", row.names=FALSE)
# Fine-Gray (relapse) and cause-specific Cox, covariates year, agecl, proph, match
fgdat <- finegray(Surv(time, event) ~ ., data=d, etype="relapse")
fg <- coxph(Surv(fgstart, fgstop, fgstatus) ~ year + agecl + proph + match, data=fgdat,
            weights=fgwt, id=id)
print(summary(fg))
write.csv(data.frame(term=names(coef(fg)), coef=coef(fg), se=sqrt(diag(fg$naive.var)),
                     robust_se=sqrt(diag(fg$var))), "ebmt4_finegray.csv", row.names=FALSE)
X <- model.matrix(~ year + agecl + proph + match, data=d)[, -1]
cr <- crr(d$time, d$code, cov1=X, failcode=1, cencode=0)
print(summary(cr))
write.csv(data.frame(term=colnames(X), coef=cr$coef, se=sqrt(diag(cr$var))),
          "ebmt4_crr.csv", row.names=FALSE)
c1 <- coxph(Surv(time, event == "relapse") ~ year + agecl + proph + match, data=d)
c2 <- coxph(Surv(time, event == "death") ~ year + agecl + proph + match, data=d)
print(c1); print(c2)
write.csv(data.frame(cause=rep(1:2, each=length(coef(c1))), term=c(names(coef(c1)),
                     names(coef(c2))), coef=c(coef(c1), coef(c2)),
                     se=c(sqrt(diag(c1$var)), sqrt(diag(c2$var)))),
          "ebmt4_cscox.csv", row.names=FALSE)
# Predicted CIF of relapse from the Fine-Gray model for two covariate profiles
prof <- data.frame(year=factor(c("1985-1989", "1995-1998"), levels(d$year)),
                   agecl=factor(c("<=20", ">40"), levels(d$agecl)),
                   proph=factor(c("no", "yes"), levels(d$proph)),
                   match=factor(c("no gender mismatch", "gender mismatch"), levels(d$match)))
sf <- summary(survfit(fg, newdata=prof), times=times)
pred <- data.frame(time=rep(sf$time, 2), row=rep(1:2, each=length(times)),
                   cif=1 - as.vector(sf$surv))
print(pred)
write.csv(pred, "ebmt4_finegray_pred.csv", row.names=FALSE)
