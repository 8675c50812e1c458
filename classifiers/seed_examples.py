"""Hand-written examples that teach the cold-start text prior what each seeded category looks like.

Admins replace or extend them per category (a category without examples of its own uses these, or
only its description when it is new). ``NEUTRAL`` is the other side of the comparison: ordinary
content of the kinds a platform mostly receives, so that "reads like a policy" is measured against
"reads like everyday text" instead of against nothing.

None of these sentences was taken from, or tuned on, the SpamAssassin corpus the prior is measured
on (bench/text_cold_start.py); they were written once, from the policy descriptions.
"""

DEFAULT_SEEDS: dict[str, tuple[str, ...]] = {
    "spam": (
        "Buy cheap followers and likes now, limited offer, click the link in my bio!",
        "Lowest prices guaranteed on our products, order today and get free shipping. To unsubscribe reply REMOVE.",
        "Make money fast working from home, earn thousands per week, no experience needed, sign up here.",
        "You are receiving this email because you opted in. Special promotion: 50% off, click here to claim.",
        "Increase your website traffic with our SEO service, first page of Google guaranteed, call now.",
        "Check out my channel and subscribe, follow for follow, visit www.example-deals.com for the best deals.",
    ),
    "scam_fraud": (
        "Congratulations, you have won a lottery prize of $1,000,000; send your bank details to claim it.",
        "I am a bank official with a confidential business proposal to transfer US$15 million into your account.",
        "Your account has been suspended, verify your password and credit card at this link to restore access.",
        "Send 0.1 BTC to this wallet and receive 0.2 BTC back, official giveaway, only today.",
        "Invest with us and double your money in a week, guaranteed returns, risk free.",
    ),
    "harassment": (
        "You are a worthless idiot and everyone hates you, just disappear.",
        "I know where you live and I will make your life hell.",
        "Everyone go to her profile and tell her how ugly and stupid she is.",
        "Shut up you pathetic loser, nobody wants to hear from you.",
    ),
    "hate": (
        "People of that race are animals and should be driven out of our country.",
        "That religion is a disease and its followers do not deserve rights.",
        "Gay people are disgusting and should not be allowed near children.",
        "Immigrants are vermin who are destroying our nation.",
    ),
    "sexual": (
        "Hot singles in your area want to meet for sex tonight, see their nude photos.",
        "Watch explicit porn videos free, xxx adult content, 18+ only.",
        "Send me naked pictures of yourself, I want to see your body.",
        "Sexy webcam girls waiting for you, live nude shows.",
    ),
    "violence": (
        "I am going to kill him and watch him bleed.",
        "Graphic video of the beheading, blood and gore everywhere.",
        "We should bomb them all and shoot anyone who resists.",
        "Glory to the attackers who massacred those people, more attacks will follow.",
    ),
    "self_harm": (
        "I want to kill myself, I can't go on living anymore.",
        "Here is how to cut yourself so nobody notices the scars.",
        "Tips to starve yourself and hide your eating disorder from your parents.",
        "I have the pills ready and I will end it all tonight.",
    ),
}

NEUTRAL: tuple[str, ...] = (
    "Thanks for the update, I will look at the patch tomorrow morning.",
    "The meeting has been moved to 3pm on Thursday, same room as last week.",
    "Does anyone know why the build fails with this error message after the upgrade?",
    "Here is the article about the election results and what they mean for the economy.",
    "Great photo! Where was this taken? The light on the mountains is beautiful.",
    "I tried the recipe last night, it needed a bit more salt but the family loved it.",
    "The new version of the library fixes the memory leak reported on the mailing list.",
    "Could you send me the slides from your talk? I would like to share them with my team.",
    "The game last night was amazing, what a goal in the final minute.",
    "Reminder: the office will be closed on Monday for the public holiday.",
    "I disagree with your argument, but I see why you think so; the data is not conclusive.",
    "Our quarterly report is attached; revenue grew slightly while costs stayed flat.",
)
