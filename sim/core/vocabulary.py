"""The fixed vocabulary of the model: activities, fit attributes and fit grades.

Scenario files, policies, event logs and reports all refer to these names, so they live in one
place. Integer codes are the positions in these tuples; event arrays store the codes.
"""

from typing import Literal, get_args

Activity = Literal[
    "web_visit",
    "pricing_page",
    "blog_post",
    "case_study",
    "comparison_guide",
    "roi_calculator",
    "implementation_guide",
    "webinar_registered",
    "webinar_attended",
    "email_open",
    "email_click",
    "form_fill",
    "demo_request",
    "trial_signup",
    "product_usage",
    "unsubscribe",
]
ACTIVITIES: tuple[Activity, ...] = get_args(Activity)
ACTIVITY_CODE: dict[str, int] = {name: code for code, name in enumerate(ACTIVITIES)}

#: Bottom-of-funnel assets: downloads that signal active evaluation.
BOTTOM_OF_FUNNEL: tuple[Activity, ...] = (
    "comparison_guide",
    "roi_calculator",
    "implementation_guide",
)
#: Content a nurture click can land on: the site, the pricing page and downloadable assets.
CONTENT_ACTIVITIES: tuple[Activity, ...] = (
    "web_visit",
    "pricing_page",
    "blog_post",
    "case_study",
    *BOTTOM_OF_FUNNEL,
)
#: Hand-raises: the lead asks for sales contact.
HAND_RAISES: tuple[Activity, ...] = ("demo_request",)

#: Activities that only exist as a response to something else, never as organic behaviour:
#: email opens and clicks answer nurture touches, webinar attendance follows a registration,
#: product usage follows a trial sign-up, unsubscribes answer touches.
DERIVED_ACTIVITIES: tuple[Activity, ...] = (
    "webinar_attended",
    "email_open",
    "email_click",
    "product_usage",
    "unsubscribe",
)
#: Activities a lead emits on its own at some rate (organic behaviour).
ORGANIC_ACTIVITIES: tuple[Activity, ...] = tuple(
    a for a in ACTIVITIES if a not in DERIVED_ACTIVITIES
)

JobLevel = Literal["student", "individual_contributor", "manager", "director", "vp", "c_level"]
CompanySize = Literal["1-10", "11-50", "51-200", "201-1000", "1001-5000", "5000+"]
Industry = Literal[
    "software",
    "financial_services",
    "healthcare",
    "manufacturing",
    "retail",
    "education",
    "public_sector",
    "other",
]
Region = Literal["north_america", "europe", "apac", "latam", "mea"]

JOB_LEVELS: tuple[JobLevel, ...] = get_args(JobLevel)
COMPANY_SIZES: tuple[CompanySize, ...] = get_args(CompanySize)
INDUSTRIES: tuple[Industry, ...] = get_args(Industry)
REGIONS: tuple[Region, ...] = get_args(Region)

#: Observable fit attributes, in the order used by the population arrays and event logs.
FIT_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "job_level": JOB_LEVELS,
    "company_size": COMPANY_SIZES,
    "industry": INDUSTRIES,
    "region": REGIONS,
}

Grade = Literal["A", "B", "C", "D"]
GRADES: tuple[Grade, ...] = get_args(Grade)

#: The lanes of the sales queue: hand-raises, product-qualified leads, and every other MQL.
Lane = Literal["handraise", "pql", "score"]
LANES: tuple[Lane, ...] = get_args(Lane)
#: The grade code of a lead whose known fit fields do not decide its grade (after the codes of
#: :data:`GRADES`); policies give it no grade points, reports call it :data:`UNKNOWN_GRADE_LABEL`.
UNKNOWN_GRADE = len(GRADES)
UNKNOWN_GRADE_LABEL = "unknown"
#: Every grade code's label: ``GRADE_LABELS[code]``.
GRADE_LABELS: tuple[str, ...] = (*GRADES, UNKNOWN_GRADE_LABEL)
