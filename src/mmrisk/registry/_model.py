"""The data-generating model of the synthetic registry (docs/registry.md §4–§5), in months.

``simulate_latent`` draws one batch of patients: their true covariates, latent fitness and
frailty, and every event time (ASCT, maintenance start and stop, progression, non-relapse death,
post-progression death, second primary malignancy, loss to follow-up). It is the part of the
generator that shapes PFS and OS, so it is also what :mod:`mmrisk.registry._calibrate` solves the
§5.4 calibration on. Everything that does not feed back into the hazards (labs, dose changes,
response details, the defects of §6) is drawn later, by :mod:`mmrisk.registry._simulate`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from mmrisk.conventions import MONTH_DAYS

__all__ = ["ModelParams", "load_params", "simulate_latent", "MONTH_DAYS"]

CALIBRATION_FILE = Path(__file__).with_name("calibration.json")
MPY = 12.0
START_YEAR, LAST_T0, CUT = 2007.0, 2016.0 + 1 / 12, 2018.0 + 1 / 12  # data cut 2018-01-31
ACCRUAL_WEIGHTS = np.array([0.03, 0.05, 0.07, 0.09, 0.11, 0.13, 0.15, 0.18, 0.19])
P_ERA = (0.54, 0.59, 0.64, 0.68)  # LM uptake by era, §5.2

# Progression log-hazard ratios, §5.3 (reference: age 58.5, male, ISS I, VGPR at day 100, ...).
B_PROG = {
    "age10": 0.049, "female": -0.105, "iss2": 0.223, "iss3": 0.438, "ldh_high": 0.300,
    "del17p": 0.642, "t414": 0.470, "t1416": 0.336, "gain1q": 0.405, "amp1q": 0.501,
    "resp_cr": -0.357, "resp_pr": 0.300, "resp_sd": 0.588, "mrd_neg": -0.511,
    "egfr_lt30": 0.095, "mel140": 0.049, "tandem": -0.163, "reg_vrd": -0.163, "reg_vd": 0.095,
    "reg_vtd_pad": -0.05, "second_induction": 0.182,
}
B_POST_STOP = np.log(0.85)
# Post-progression survival log-hazard ratios, §5.3.
B_PPS = {
    "after_lm": np.log(1.65), "early": np.log(2.50), "del17p": np.log(1.60), "t414": np.log(1.30),
    "q1": np.log(1.30), "age10": np.log(1.35), "iss3": np.log(1.30), "year": np.log(0.98),
    "fitness": np.log(0.74), "frailty": 0.5,
}


@dataclass(frozen=True)
class ModelParams:
    """Parameters of §5; the three calibrated ones are read from ``calibration.json``.

    The defaults are the values of REGISTRY.md §5; :func:`load_params` replaces the three
    calibrated ones (``lam_prog``, ``beta_lm``, ``lam_pps``) by those of the shipped
    calibration. Times are in months.

    Parameters
    ----------
    lam_prog : float, default=68.09
        Weibull scale of the progression hazard since ASCT for the reference profile
        (calibrated).
    beta_lm : float, default=-0.7515
        Log hazard ratio of progression while on lenalidomide maintenance (calibrated).
    lam_pps : float, default=141.25
        Weibull scale of post-progression survival for the reference profile (calibrated).
    k_prog : float, default=1.30
        Weibull shape of the progression hazard.
    k_pps : float, default=1.10
        Weibull shape of post-progression survival.
    frailty_sd : float, default=0.35
        Standard deviation of the normal frailty added to the progression log hazard (it also
        enters post-progression survival, with coefficient 0.5).
    ltfu_per_year : float, default=0.02
        Rate of loss to follow-up per year, from induction start.
    spm_on_lm_per_100py : float, default=2.0
        Second primary malignancies per 100 patient-years on maintenance.
    spm_off_lm_per_100py : float, default=0.9
        Second primary malignancies per 100 patient-years off maintenance.
    spm_invasive_share : float, default=0.65
        Share of the malignancies on maintenance that are invasive and stop it; the rest are
        non-melanoma skin cancers.
    """

    lam_prog: float = 68.09
    beta_lm: float = -0.7515
    lam_pps: float = 141.25
    k_prog: float = 1.30
    k_pps: float = 1.10
    frailty_sd: float = 0.35
    ltfu_per_year: float = 0.02
    spm_on_lm_per_100py: float = 2.0
    spm_off_lm_per_100py: float = 0.9
    spm_invasive_share: float = 0.65


def load_params() -> ModelParams:
    """The calibrated parameters shipped in the package (``calibration.json``).

    Returns
    -------
    ModelParams
        ``lam_prog``, ``beta_lm`` and ``lam_pps`` from ``calibration.json``; every other
        parameter at its default.
    """
    data = json.loads(CALIBRATION_FILE.read_text())
    return ModelParams(**{k: data[k] for k in ("lam_prog", "beta_lm", "lam_pps")})


def params_dict(p: ModelParams) -> dict:
    return asdict(p)


def _weibull_H(s, lam, k):
    return (np.maximum(s, 0.0) / lam) ** k


def _weibull_Hinv(h, lam, k):
    return lam * np.maximum(h, 0.0) ** (1.0 / k)


def _choice(rng, u, labels, probs):
    """Vectorised categorical draw from uniforms ``u`` (rows of ``probs`` may vary per row)."""
    cum = np.cumsum(np.atleast_2d(probs), axis=-1)
    idx = (u[:, None] > cum).sum(axis=1)
    return np.asarray(labels, dtype=object)[np.minimum(idx, len(labels) - 1)]


def _covariates(rng: np.random.Generator, n: int) -> dict:
    years = np.arange(2007, 2016)
    yr = rng.choice(years, size=n, p=ACCRUAL_WEIGHTS / ACCRUAL_WEIGHTS.sum())
    t0 = np.minimum(yr + rng.random(n), LAST_T0)
    age = np.clip(rng.normal(58.5, 7.5, n), 28, 72)
    female = rng.random(n) < 0.41
    u = rng.random(n)
    iss = np.where(u < 0.36, 1, np.where(u < 0.74, 2, 3))
    ldh_high = rng.random(n) < np.where(iss == 3, 0.20, 0.09)
    t414 = rng.random(n) < 0.12
    del17p = rng.random(n) < 0.09
    t1416 = rng.random(n) < 0.03
    q1 = rng.random(n) < np.where(t414, 0.60, np.where(iss == 3, 0.40, 0.28))
    amp1q = q1 & (rng.random(n) < 0.25)
    gain1q = q1 & ~amp1q
    egfr_lt30 = rng.random(n) < np.where(iss == 3, 0.22, 0.04)
    fitness = rng.normal(0, 1, n)
    era = np.where(yr <= 2009, 0, np.where(yr <= 2013, 1, 2))
    probs = np.array([
        [0.55, 0.35, 0.05, 0.05, 0.0, 0.0],  # CyBorD, VD, VTD, PAD, VRD, other
        [0.85, 0.10, 0.03, 0.02, 0.0, 0.0],
        [0.88, 0.04, 0.02, 0.0, 0.05, 0.01],
    ])[era]
    regimen = _choice(rng, rng.random(n), ["CyBorD", "VD", "VTD", "PAD", "VRD", "other"], probs)
    second_induction = rng.random(n) < 0.08
    t_asct = np.exp(rng.normal(np.log(5.5), 0.18, n)) + np.where(
        second_induction, rng.uniform(3, 6, n), 0.0)
    mel140 = rng.random(n) < np.where((age >= 65) | egfr_lt30, 0.35, 0.07)
    hr_ca = del17p | t414 | t1416
    tandem = rng.random(n) < np.where(hr_ca, 0.20, 0.03)
    shift = np.where(hr_ca, 0.04, 0.0)
    u = rng.random(n)
    resp100 = np.where(u < 0.25 - shift, "CR", np.where(
        u < 0.62 - shift, "VGPR", np.where(u < 0.94, "PR", np.where(u < 0.995, "MR_SD", "PD"))))
    mrd_tested = (resp100 == "CR") & (rng.random(n) < np.where(era == 2, 0.25, 0.08))
    mrd_neg = mrd_tested & (rng.random(n) < 0.5)
    return dict(
        year=yr, t0_year=t0, age=age, female=female, iss=iss, ldh_high=ldh_high, t414=t414,
        del17p=del17p, t1416=t1416, gain1q=gain1q, amp1q=amp1q, egfr_lt30=egfr_lt30,
        fitness=fitness, era=era, regimen=regimen, second_induction=second_induction,
        t_asct=t_asct, mel140=mel140, hr_ca=hr_ca, tandem=tandem, resp100=resp100,
        mrd_tested=mrd_tested, mrd_neg=mrd_neg,
    )


def _linear_predictor(c: dict) -> np.ndarray:
    b = B_PROG
    r = c["resp100"]
    return (
        b["age10"] * (c["age"] - 58.5) / 10 + b["female"] * c["female"]
        + b["iss2"] * (c["iss"] == 2) + b["iss3"] * (c["iss"] == 3) + b["ldh_high"] * c["ldh_high"]
        + b["del17p"] * c["del17p"] + b["t414"] * c["t414"] + b["t1416"] * c["t1416"]
        + b["gain1q"] * c["gain1q"] + b["amp1q"] * c["amp1q"]
        + b["resp_cr"] * (r == "CR") + b["resp_pr"] * (r == "PR")
        + b["resp_sd"] * ((r == "MR_SD") | (r == "PD")) + b["mrd_neg"] * c["mrd_neg"]
        + b["egfr_lt30"] * c["egfr_lt30"] + b["mel140"] * c["mel140"] + b["tandem"] * c["tandem"]
        + b["reg_vrd"] * (c["regimen"] == "VRD") + b["reg_vd"] * (c["regimen"] == "VD")
        + b["reg_vtd_pad"] * np.isin(c["regimen"], ["VTD", "PAD", "other"])
        + b["second_induction"] * c["second_induction"]
    )


def _maintenance(rng, c, p: ModelParams, n):
    """LM decision, wish and the competing non-progression stops (months from LM start)."""
    s_dec = np.exp(rng.normal(np.log(3.3), 0.25, n))
    yr = c["year"]
    p_era = np.select([yr <= 2009, yr <= 2011, yr <= 2013], list(P_ERA[:3]), P_ERA[3])
    logit = (np.log(p_era / (1 - p_era)) - 0.04 * (c["age"] - 58.5) - 0.6 * c["egfr_lt30"]
             - 0.3 * c["mel140"] + 0.2 * c["hr_ca"] - 0.5 * (c["resp100"] == "MR_SD")
             + 1.0 * c["fitness"])
    wants = (rng.random(n) < 1 / (1 + np.exp(-logit))) & (c["resp100"] != "PD")
    intolerant = rng.random(n) < 0.30
    stops = {
        "toxicity": rng.exponential(MPY / 0.035, n) / np.where(intolerant, 4.0, 1.0),
        "patient_choice": rng.exponential(MPY / 0.015, n),
        "physician_decision": rng.exponential(MPY / 0.008, n),
        "SPM": rng.exponential(MPY * 100 / (p.spm_on_lm_per_100py * p.spm_invasive_share), n),
    }
    names = list(stops)
    mat = np.column_stack([stops[k] for k in names])
    which = np.asarray(names, dtype=object)[mat.argmin(axis=1)]
    return s_dec, wants, mat.min(axis=1), which


def _progression(rng, eta, s_dec, on_lm, dur, p: ModelParams, n):
    """Progression time since ASCT under the time-varying LM effect (closed-form inversion)."""
    lam, k = p.lam_prog, p.k_prog
    e = rng.exponential(1.0, n)
    h_dec = _weibull_H(s_dec, lam, k) * eta
    s_prog = _weibull_Hinv(e / eta, lam, k)  # no LM, or progression before the decision
    m_on, m_post = np.exp(p.beta_lm), np.exp(B_POST_STOP)
    s_end = s_dec + dur
    h_end = h_dec + (_weibull_H(s_end, lam, k) - _weibull_H(s_dec, lam, k)) * eta * m_on
    in_on = on_lm & (e > h_dec) & (e <= h_end)
    s_prog = np.where(in_on, _weibull_Hinv(
        _weibull_H(s_dec, lam, k) + (e - h_dec) / (eta * m_on), lam, k), s_prog)
    in_post = on_lm & (e > h_end)
    s_prog = np.where(in_post, _weibull_Hinv(
        _weibull_H(s_end, lam, k) + (e - h_end) / (eta * m_post), lam, k), s_prog)
    return s_prog, e <= h_dec


def simulate_latent(rng: np.random.Generator, n: int, p: ModelParams,
                    era_shift_years: int = 0) -> dict:
    """Draw ``n`` patients' true covariates and event times (months; ASCT = 0 unless noted).

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of every draw; the same generator state gives the same patients.
    n : int
        Number of patients.
    p : ModelParams
        Parameters of the data-generating model.
    era_shift_years : int, default=0
        Calendar years between the registry's frame and the calendar (docs/registry.md §2.1):
        the post-progression calendar-year effect of §5.3 is applied at the progression's
        calendar year, ``t0_year + era_shift_years`` plus the time to progression. Nothing else
        depends on it, and the draws are the same.

    Returns
    -------
    dict of str to ndarray of shape (n,)
        The covariates (``age``, ``female``, ``iss``, cytogenetics, ``regimen``, ``resp100``,
        ``fitness``, ...), the linear predictor ``lp`` and ``frailty``, and the event times.
        Times named ``t_*`` count from induction start (T0), as do ``admin`` (the last visit
        before the data cut) and ``ltfu`` (loss to follow-up); times named ``s_*`` count from
        the first ASCT, as does ``lm_end`` (NaN without maintenance); ``pps`` counts from
        progression. ``lm`` says who starts maintenance, ``progressed`` whether progression
        comes before non-relapse death, ``t_obs_end`` is the last clinic contact and ``lost``
        says whether it comes before ``admin``. ``year`` and ``t0_year`` (induction year and
        date, 2007–2016) are in the registry's frame, whatever ``era_shift_years``.
    """
    c = _covariates(rng, n)
    lp = _linear_predictor(c)
    frailty = rng.normal(0, p.frailty_sd, n)
    eta = np.exp(lp + frailty)
    s_dec, wants, stop_nonpd, stop_reason = _maintenance(rng, c, p, n)
    # A day-100 PD is a progression on the assessment date (§4.5): such patients are never LM.
    s_pd100 = 100 / MONTH_DAYS
    s_prog, prog_before_dec = _progression(rng, eta, s_dec, wants, stop_nonpd, p, n)
    s_prog = np.where(c["resp100"] == "PD", s_pd100, s_prog)
    prog_before_dec = prog_before_dec | (c["resp100"] == "PD")

    # Non-relapse mortality: Gompertz background x excess, LM, renal, fitness; early TRM.
    age_asct = c["age"] + c["t_asct"] / MPY
    gam = 0.085 / MPY
    base = (np.exp(-10.06 + 0.085 * age_asct) / MPY * 1.3 * np.exp(-0.3 * c["fitness"])
            * np.where(c["egfr_lt30"], 1.5, 1.0))
    # LM raises NRM by 1.2 while on it: sample under the LM multiplier for LM patients (§5.1).
    on_lm_pre = wants & ~prog_before_dec
    base = base * np.where(on_lm_pre, 1.2, 1.0)
    s_nrm = np.log1p(rng.exponential(1.0, n) * gam / base) / gam
    trm = rng.random(n) < 0.006
    s_nrm = np.where(trm, np.minimum(s_nrm, rng.uniform(0.2, 3.3, n)), s_nrm)

    # Maintenance happens only if the patient is alive and progression-free at the decision.
    lm = wants & ~prog_before_dec & (s_nrm > s_dec)
    lm_end = np.where(lm, np.minimum.reduce([s_dec + stop_nonpd, s_prog, s_nrm]), np.nan)
    lm_end_reason = np.where(
        ~lm, "", np.where(s_nrm <= np.minimum(s_dec + stop_nonpd, s_prog), "death",
                          np.where(s_prog <= s_dec + stop_nonpd, "progression", stop_reason)))

    # Post-progression survival (clock from progression).
    progressed = s_prog < s_nrm
    # Calendar year of progression: the registry's frame plus the era shift (§2.1).
    prog_year = c["t0_year"] + (c["t_asct"] + s_prog) / MPY + era_shift_years
    b = B_PPS
    lp_pps = (b["after_lm"] * (lm & (s_prog > s_dec)) + b["fitness"] * c["fitness"]
              + b["early"] * (s_prog < 12) + b["del17p"] * c["del17p"] + b["t414"] * c["t414"]
              + b["q1"] * (c["gain1q"] | c["amp1q"]) + b["age10"] * (c["age"] - 58.5) / 10
              + b["iss3"] * (c["iss"] == 3) + b["year"] * (prog_year - 2014)
              + b["frailty"] * frailty)
    pps = p.lam_pps * (rng.exponential(1.0, n) / np.exp(lp_pps)) ** (1 / p.k_pps)

    s_death = np.where(progressed, s_prog + pps, s_nrm)
    # Last clinic visit before the data cut (0-1 month before it), from T0.
    admin = (CUT - c["t0_year"]) * MPY - rng.uniform(0.0, 1.0, n)
    ltfu = rng.exponential(MPY / p.ltfu_per_year, n)  # from T0
    spm_stop = lm & (lm_end_reason == "SPM")
    # A planned tandem ASCT 1.5-2.5 months after the first (before the LM decision); it is given
    # only to a patient alive and progression-free on that day. (Drawn last, so the draws above
    # are the same as without it.) The hazard keeps the planned tandem (§5.3, from day 0).
    s_tandem = np.minimum(rng.uniform(1.5, 2.5, n), 0.8 * s_dec)
    tandem_done = c["tandem"] & (s_tandem < np.minimum(s_prog, s_nrm))
    s_tandem = np.where(tandem_done, s_tandem, np.nan)
    # Last clinic contact (months from T0). The transplant centre sees the patient through the
    # first-line programme (ASCT, the tandem, the first maintenance dose), so loss to follow-up
    # (transfer to community care) cannot come before the last of these.
    seen = c["t_asct"] + np.where(lm, s_dec, np.where(tandem_done, s_tandem, 0.0))
    t_obs_end = np.minimum(admin, np.maximum(ltfu, seen))
    c.update(
        lp=lp, frailty=frailty, s_dec=s_dec, lm=lm, lm_end=lm_end, lm_end_reason=lm_end_reason,
        s_prog=s_prog, s_nrm=s_nrm, trm=trm & ~progressed & (s_nrm < 3.3), progressed=progressed,
        pps=pps, s_death=s_death, admin=admin, ltfu=ltfu, spm_stop=spm_stop,
        prog_before_dec=prog_before_dec, s_tandem=s_tandem, tandem_done=tandem_done,
        t_obs_end=t_obs_end, lost=t_obs_end < admin,
    )
    return c


def observed_endpoints(c: dict) -> dict:
    """PFS and OS from T0, censored at the last clinic contact ``t_obs_end`` — §5.1 step 4.

    ``t_obs_end`` is min(data cut, loss to follow-up), with loss to follow-up no earlier than the
    end of the first-line programme; the raw tables use the same window (``_tables``).
    """
    cens = c["t_obs_end"]
    t_pfs = c["t_asct"] + np.minimum(c["s_prog"], c["s_nrm"])
    t_os = c["t_asct"] + c["s_death"]
    return dict(
        pfs_time=np.minimum(t_pfs, cens), pfs_event=t_pfs <= cens,
        os_time=np.minimum(t_os, cens), os_event=t_os <= cens,
    )
