# Reference values for tests/evaluation/test_competing.py and tests/models/test_competing.py.
# Run with R 4.2.2, survival 3.5-3, cmprsk 2.2-11 (Debian bookworm r-cran-survival, r-cran-cmprsk):
#   Rscript competing_reference.R   (writes mgus2.csv and the *.csv reference tables here)
library(survival); library(cmprsk)
options(digits=12)
packageVersion("survival"); packageVersion("cmprsk")
d <- mgus2
write.csv(d[, c("id","age","sex","hgb","mspike","ptime","pstat","futime","death")], "mgus2.csv", row.names=FALSE)
d$etime <- with(d, ifelse(pstat==0, futime, ptime))
ev <- with(d, ifelse(pstat==0, 2*death, 1))
d$event <- factor(ev, 0:2, labels=c("censor","pcm","death"))
print(table(d$event))
# AJ by sex and overall
mfit2 <- survfit(Surv(etime, event) ~ sex, data=d)
print(mfit2, rmean=240, scale=12)
s <- summary(mfit2, times=c(12, 60, 120, 240))
out <- data.frame(strata=rep(as.character(s$strata), 1), time=s$time, n.risk=s$n.risk[,1],
  pcm=s$pstate[,2], death=s$pstate[,3], se_pcm=s$std.err[,2], se_death=s$std.err[,3],
  lo_pcm=s$lower[,2], hi_pcm=s$upper[,2])
print(out)
write.csv(out, "aj_by_sex.csv", row.names=FALSE)
m0 <- survfit(Surv(etime, event) ~ 1, data=d)
s0 <- summary(m0, times=c(12, 60, 120, 240, 360))
out0 <- data.frame(time=s0$time, n.risk=s0$n.risk[,1], pcm=s0$pstate[,2], death=s0$pstate[,3],
  se_pcm=s0$std.err[,2], se_death=s0$std.err[,3])
print(out0)
write.csv(out0, "aj_overall.csv", row.names=FALSE)
print(m0$conf.type)
# Gray's test
ci <- cuminc(d$etime, as.integer(ev), group=d$sex, cencode=0)
print(ci$Tests)
write.csv(data.frame(cause=rownames(ci$Tests), stat=ci$Tests[,1], pv=ci$Tests[,2], df=ci$Tests[,3]), "gray_sex.csv", row.names=FALSE)
print(timepoints(ci, c(60,120,240)))
# complete cases for regression
mg <- subset(d, !is.na(mspike))
pcmdat <- finegray(Surv(etime, event) ~ ., data=mg, etype="pcm")
fg <- coxph(Surv(fgstart, fgstop, fgstatus) ~ age + sex + mspike, data=pcmdat, weights=fgwt, id=id)
print(summary(fg))
fgd <- data.frame(term=names(coef(fg)), coef=coef(fg), se=sqrt(diag(fg$naive.var)), robust_se=sqrt(diag(fg$var)))
write.csv(fgd, "finegray_mgus2.csv", row.names=FALSE)
fgb <- coxph(Surv(fgstart, fgstop, fgstatus) ~ age + sex + mspike, data=pcmdat, weights=fgwt, id=id, ties="breslow")
print(coef(fgb))
cr <- crr(mg$etime, as.integer(mg$event)-1, cov1=cbind(age=mg$age, sexM=as.numeric(mg$sex=="M"), mspike=mg$mspike), failcode=1, cencode=0)
print(summary(cr))
# FG prediction: CIF at times for dummy
dummy <- data.frame(sex=c("F","M","F","M"), age=c(60,60,80,80), mspike=1.2)
fs <- survfit(fg, newdata=dummy)
sf <- summary(fs, times=c(60,120,240))
write.csv(data.frame(time=rep(sf$time,4), row=rep(1:4, each=3), cif=1-as.vector(sf$surv)), "finegray_pred.csv", row.names=FALSE)
print(1-sf$surv)
# cause-specific Cox
c1 <- coxph(Surv(etime, event=="pcm") ~ age + sex + mspike, data=mg)
c2 <- coxph(Surv(etime, event=="death") ~ age + sex + mspike, data=mg)
print(c1); print(c2)
csd <- data.frame(cause=rep(1:2, each=3), term=rep(names(coef(c1)),2), coef=c(coef(c1), coef(c2)), se=c(sqrt(diag(c1$var)), sqrt(diag(c2$var))))
write.csv(csd, "cscox_mgus2.csv", row.names=FALSE)
