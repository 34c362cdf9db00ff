# ruff: noqa: RUF001, E501 - samples of many scripts, kept one per line
"""Texts of every kind an agent's context holds, with their token counts under OpenAI's
cl100k_base and o200k_base (measured once with a real BPE implementation, `bpe-openai`;
pinned here so the test needs no tokenizer)."""

from __future__ import annotations

SAMPLES: dict[str, str] = {
    "english": (
        "Hi! I just moved to Lisbon for a new job at a small robotics company. My sister is "
        "visiting next weekend and I have no idea where to take her. She loves old bookshops, "
        "strong coffee and long walks by the water. Could you suggest a plan for Saturday?"
    ),
    "english_formal": (
        "The committee reviewed the quarterly infrastructure report and approved the proposed "
        "reorganisation of the maintenance schedule, subject to an independent assessment of the "
        "environmental implications, which must be submitted before the end of the fiscal year."
    ),
    "python": (
        "def merge_intervals(intervals: list[tuple[int, int]]) -> list[tuple[int, int]]:\n"
        "    merged: list[tuple[int, int]] = []\n"
        "    for start, end in sorted(intervals):\n"
        "        if merged and start <= merged[-1][1]:\n"
        "            merged[-1] = (merged[-1][0], max(merged[-1][1], end))\n"
        "        else:\n"
        "            merged.append((start, end))\n"
        "    return merged\n"
    ),
    "javascript": (
        "export async function fetchUser(id) {\n  const res = await fetch(`/api/users/${id}`, "
        "{ headers: { Accept: 'application/json' } });\n  if (!res.ok) throw new Error(`HTTP "
        "${res.status}`);\n  return (await res.json()).data ?? null;\n}\n"
    ),
    "json_tool_call": (
        '{"thinking": "The user told me their sister\'s name; I should store it.", "label": "human", '
        '"content": "Sister: Marta, visits in May, likes bookshops", "request_heartbeat": true}'
    ),
    "json_schema": (
        '{"name": "core_memory_append", "description": "Append text to the end of a core memory block.", '
        '"parameters": {"type": "object", "properties": {"label": {"type": "string", "description": '
        '"Label of the memory block, e.g. \'human\' or \'persona\'."}, "content": {"type": "string", '
        '"description": "Text to append; it starts on a new line."}}, "required": ["label", "content"]}}'
    ),
    "ids": (
        "message-6f1c2a9e-3b4d-4e5f-8a7b-0c1d2e3f4a5b call_9f8e7d6c5b4a39281706f5e4 "
        "agent-0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d block-deadbeef-0000-4abc-9def-123456789abc"
    ),
    "numbers": "Order 48213 shipped on 2026-03-14 at 09:41; total 1,249.95 EUR for 17 items (tax 21%).",
    "german": (
        "Die Straßenbahnhaltestelle vor dem Rathaus wird wegen Bauarbeiten bis voraussichtlich "
        "Mitte Oktober geschlossen; Fahrgäste werden gebeten, die Ersatzhaltestelle zu nutzen."
    ),
    "chinese": "我下周要去北京出差，想在周末抽空参观故宫和颐和园。你能帮我安排一个轻松的行程吗？我不太喜欢人多的地方。",
    "japanese": "来週の会議の資料をまだ準備していません。明日の午後までに、売上の推移をまとめたグラフを作ってもらえますか。",
    "korean": "오늘 저녁에 친구들과 함께 한국 음식을 만들어 보려고 해요. 김치찌개 만드는 방법을 알려 주실 수 있나요?",
    "russian": "Завтра утром я улетаю в Новосибирск, поэтому встречу придётся перенести на следующую неделю.",
    "arabic": "أود حجز طاولة لشخصين في مطعم هادئ بالقرب من البحر مساء يوم الجمعة، إذا كان ذلك ممكناً.",
    "hindi": "मुझे अगले महीने जयपुर जाना है। क्या आप मुझे वहाँ के प्रसिद्ध किलों और बाज़ारों के बारे में बता सकते हैं?",
    "greek": "Θα ήθελα να μάθω περισσότερα για την ιστορία της Αθήνας και τα μουσεία που αξίζει να επισκεφτώ.",
    "hebrew": "אני מחפש מתכון פשוט לעוגת שוקולד בלי ביצים, כי הבת שלי אלרגית.",
    "thai": "ช่วยแนะนำร้านอาหารไทยที่อร่อยใกล้สถานีรถไฟฟ้าให้หน่อยได้ไหมครับ",
    "emoji": "Great news 🎉🎉 we shipped it! 🚀 Thanks everyone 🙏❤️ see you Friday 🍕🍺",
    "mixed": "Meeting notes — Q3 roadmap: ✅ API v2 (Anna), ⏳ billing (张伟), ❌ mobile; next sync 2026-09-02.",
}

# name: (cl100k_base, o200k_base)
COUNTS: dict[str, tuple[int, int]] = {
    "english": (56, 56),
    "english_formal": (40, 40),
    "python": (93, 94),
    "javascript": (59, 59),
    "json_tool_call": (49, 48),
    "json_schema": (101, 101),
    "ids": (116, 116),
    "numbers": (36, 36),
    "german": (47, 37),
    "chinese": (65, 47),
    "japanese": (57, 41),
    "korean": (60, 30),
    "russian": (48, 25),
    "arabic": (64, 29),
    "hindi": (100, 30),
    "greek": (83, 32),
    "hebrew": (56, 24),
    "thai": (60, 25),
    "emoji": (32, 24),
    "mixed": (38, 36),
}
